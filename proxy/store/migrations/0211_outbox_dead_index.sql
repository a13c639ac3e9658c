-- The outbox gauge counts rows per state at scrape time: pending and sending rows have partial
-- indexes already, dead ones get theirs, so no count reads the (much larger) delivered rows.
create index if not exists outbox_dead_idx on outbox (id) where state = 'dead';
