-- Threads (our ids, bound to tenant and visitor, mapped to the provider's conversation) and the
-- history of every thread, whatever engine serves it.
create table threads (
    id            text primary key,
    tenant        text not null,
    visitor       text,                          -- binding key; null: any caller of the tenant
    visitor_kind  text not null default 'anonymous',
    visitor_user_id text,
    visitor_email text,
    engine        text not null,
    provider_id   text,
    created_at    timestamptz not null default now(),
    active_run    text,
    locked_until  timestamptz
);
create index threads_tenant_idx on threads (tenant, created_at);

create table messages (
    id          bigserial primary key,
    thread_id   text not null references threads (id) on delete cascade,
    role        text not null check (role in ('user', 'assistant')),
    content     text not null,
    run_id      text,
    created_at  timestamptz not null default now()
);
create index messages_thread_idx on messages (thread_id, id);
