-- A visitor's conversations: an editable title, and lookups by visitor and by signed-in user.
alter table threads add column title text;
create index threads_visitor_idx on threads (tenant, visitor) where visitor is not null;
create index threads_user_idx on threads (tenant, visitor_user_id) where visitor_user_id is not null;
create index threads_email_idx on threads (tenant, lower(visitor_email)) where visitor_email is not null;

-- Provider-side copies (Conversations API conversations, assistants threads) still to delete after
-- their thread was deleted here: written in the statement that deletes the thread, then sent by
-- whichever worker leases the row first, so the call is made once even with many workers.
create table provider_deletions (
    id           bigserial primary key,
    tenant       text not null,
    provider_id  text not null,
    attempts     integer not null default 0,
    lease_until  timestamptz,
    last_error   text,
    created_at   timestamptz not null default now()
);
create index provider_deletions_due_idx on provider_deletions (lease_until nulls first, id);

-- What an erasure request removed and when: counts and ids, never the content nor the identifier
-- itself (only a hash of it, so a repeated request can be recognised).
create table erasure_audit (
    id            bigserial primary key,
    tenant        text not null,
    subject_kind  text not null check (subject_kind in ('visitor_id', 'user_id', 'email')),
    subject_hash  text not null,
    requested_via text not null,
    erased        jsonb not null,
    created_at    timestamptz not null default now()
);
create index erasure_audit_tenant_idx on erasure_audit (tenant, created_at);

create index leads_email_idx on leads (tenant, lower(email));
create index handoffs_email_idx on handoffs (tenant, lower(contact_email)) where contact_email is not null;
create index leads_thread_idx on leads (thread_id);
