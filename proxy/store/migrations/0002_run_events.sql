-- Events of runs whose visitor lost the connection, so a reconnect on any worker can resume.
-- Runs whose stream stays connected are never written here.
create table run_streams (
    run_id          text primary key,
    thread_id       text not null references threads (id) on delete cascade,
    finished        boolean not null default false,
    reader_seen_at  timestamptz,
    created_at      timestamptz not null default now()
);
create index run_streams_created_idx on run_streams (created_at);

create table run_events (
    run_id  text not null references run_streams (run_id) on delete cascade,
    seq     integer not null,
    name    text not null,
    data    text not null,
    primary key (run_id, seq)
);
