-- The staff console: sign-in sessions, conversations taken over by a person, the price table for
-- cost estimates, and per-turn marks (tool calls, searches that found nothing, refusals, errors)
-- that hold no message text: the dashboard joins them to the messages by run id.

-- A message written by a person of the tenant's staff: role 'assistant', author = their name.
alter table messages add column author text;

create table console_sessions (
    token_hash  text primary key,                 -- sha256 of the cookie's value; the value is never stored
    tenant      text not null,
    staff_id    text not null,                    -- 'key:<hash prefix>' or 'user:<sub>'
    staff_name  text not null,
    csrf        text not null,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null
);
create index console_sessions_expiry_idx on console_sessions (expires_at);

-- One row per time a person held a conversation. The open row (ended_at null) is the holder:
-- at most one per thread. from_message / to_message bound the messages said meanwhile, which the
-- assistant is told about on its first turn after the hand-back (briefed).
create table takeovers (
    id            bigserial primary key,
    tenant        text not null,
    thread_id     text not null references threads (id) on delete cascade,
    staff_id      text not null,
    staff_name    text not null,
    started_at    timestamptz not null default now(),
    ended_at      timestamptz,
    from_message  bigint not null,
    to_message    bigint,
    briefed       boolean not null default false
);
create unique index takeovers_holder_uniq on takeovers (thread_id) where ended_at is null;
create index takeovers_unbriefed_idx on takeovers (thread_id) where ended_at is not null and not briefed;
create index takeovers_tenant_idx on takeovers (tenant, started_at);

-- Per-model prices (per million tokens) a tenant set in the console; built-in defaults otherwise.
create table console_prices (
    tenant            text not null,
    model             text not null,
    input_per_mtok    numeric(12, 4) not null check (input_per_mtok >= 0),
    output_per_mtok   numeric(12, 4) not null check (output_per_mtok >= 0),
    updated_at        timestamptz not null default now(),
    primary key (tenant, model)
);

-- What happened in a turn, without its text: kind is tool (name, ok), nothing_found (a search
-- tool's nothing_matches), refusal (a tool refused: not allowed, bad input) or error (name = code).
create table turn_marks (
    id          bigserial primary key,
    tenant      text not null,
    thread_id   text not null,
    run_id      text not null,
    kind        text not null check (kind in ('tool', 'nothing_found', 'refusal', 'error')),
    name        text not null,
    ok          boolean not null default true,
    created_at  timestamptz not null default now()
);
create index turn_marks_tenant_idx on turn_marks (tenant, created_at);
