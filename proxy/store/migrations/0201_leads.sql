-- Leads, human handoffs and the durable outbox that notifies the tenant about them.
-- Leads outlive their thread (no foreign key to threads): deleting a conversation must not lose
-- a customer's contact request.
create table leads (
    id            bigserial primary key,
    tenant        text not null,
    thread_id     text not null,
    visitor       text,
    call_id       text,                           -- the model's tool call id, when known
    content_hash  text not null,                  -- the normalised fields: the same lead twice is one lead
    name          text not null,
    email         text not null,
    phone         text,
    message       text not null default '',
    page_url      text,
    consent       boolean not null default false,
    source        text not null,                  -- the tool that captured it: capture_lead | sendEmail
    created_at    timestamptz not null default now()
);
create unique index leads_call_uniq on leads (tenant, thread_id, call_id) where call_id is not null;
create unique index leads_content_uniq on leads (tenant, thread_id, content_hash);
create index leads_tenant_idx on leads (tenant, created_at);

create table handoffs (
    id            bigserial primary key,
    tenant        text not null,
    thread_id     text not null,
    visitor       text,
    call_id       text,
    reason        text not null,
    source        text not null check (source in ('tool', 'keyword', 'request')),
    contact_email text,                            -- how the team can reach the visitor, if known
    created_at    timestamptz not null default now()
);
create unique index handoffs_call_uniq on handoffs (tenant, thread_id, call_id) where call_id is not null;
create index handoffs_tenant_idx on handoffs (tenant, created_at);
create index handoffs_thread_idx on handoffs (thread_id, created_at);

-- One row per notification to deliver (a mail or a webhook call).
--   pending  waiting for next_attempt_at
--   sending  leased by a sender until lease_until; an expired lease means the sender died
--   sent     delivered
--   dead     gave up (permanent failure or too many attempts); last_error says why
create table outbox (
    id              bigserial primary key,
    tenant          text not null,
    kind            text not null check (kind in ('email', 'webhook')),
    dedupe_key      text not null unique,
    payload         jsonb not null,
    lead_id         bigint references leads (id) on delete set null,
    handoff_id      bigint references handoffs (id) on delete set null,
    state           text not null default 'pending' check (state in ('pending', 'sending', 'sent', 'dead')),
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    lease_owner     text,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    sent_at         timestamptz
);
create index outbox_due_idx on outbox (next_attempt_at) where state = 'pending';
create index outbox_lease_idx on outbox (lease_until) where state = 'sending';
create index outbox_tenant_idx on outbox (tenant, created_at);
create index outbox_lead_idx on outbox (lead_id);
create index outbox_handoff_idx on outbox (handoff_id);
