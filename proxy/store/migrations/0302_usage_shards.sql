-- Usage counters spread over a few rows per tenant, day and model ("shards"): each finished turn
-- adds to one of them, picked at random, so concurrent turns of one tenant rarely wait for each
-- other's row lock (held until their commit reaches the disk). Readers sum the shards.
-- Rows from before this migration are shard 0.
alter table usage_daily add column shard smallint not null default 0;
alter table usage_daily drop constraint usage_daily_pkey;
alter table usage_daily add primary key (tenant, day, model, shard);
