-- Token usage per tenant, day and model: one row upserted by every finished turn.
-- The primary key serves the budget check (today's total for one tenant) and the usage report.
create table usage_daily (
    tenant         text not null,
    day            date not null,                 -- in the tenant's budget time zone
    model          text not null,
    input_tokens   bigint not null default 0,
    output_tokens  bigint not null default 0,
    turns          integer not null default 0,
    updated_at     timestamptz not null default now(),
    primary key (tenant, day, model)
);
create index usage_daily_day_idx on usage_daily (day);
