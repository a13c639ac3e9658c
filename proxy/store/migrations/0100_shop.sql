-- The shop's data, per tenant: Stripe objects (or the demo shop), their text renderings and
-- embeddings, and the sync cursors. Amounts are in the currency's minor unit, as Stripe sends them.
create extension if not exists vector;

create table shop_customers (
    tenant      text not null,
    id          text not null,
    email       text,
    name        text,
    phone       text,
    created     timestamptz,
    metadata    jsonb not null default '{}',
    deleted     boolean not null default false,
    raw         jsonb,
    synced_at   timestamptz not null default now(),
    primary key (tenant, id)
);
create index shop_customers_email_idx on shop_customers (tenant, lower(email));

create table shop_products (
    tenant        text not null,
    id            text not null,
    name          text not null,
    description   text,
    active        boolean not null default true,
    default_price text,
    metadata      jsonb not null default '{}',
    created       timestamptz,
    deleted       boolean not null default false,
    raw           jsonb,
    synced_at     timestamptz not null default now(),
    primary key (tenant, id)
);

create table shop_prices (
    tenant       text not null,
    id           text not null,
    product_id   text,
    currency     text not null,
    unit_amount  bigint,
    recurring    text,                 -- the billing interval of a recurring price, null if one-off
    active       boolean not null default true,
    nickname     text,
    created      timestamptz,
    raw          jsonb,
    synced_at    timestamptz not null default now(),
    primary key (tenant, id)
);
create index shop_prices_product_idx on shop_prices (tenant, product_id);

create table shop_invoices (
    tenant          text not null,
    id              text not null,
    number          text,
    customer_id     text,
    customer_email  text,
    customer_name   text,
    currency        text not null,
    status          text,
    total           bigint not null default 0,
    created         timestamptz not null,
    raw             jsonb,
    synced_at       timestamptz not null default now(),
    primary key (tenant, id)
);
create index shop_invoices_customer_idx on shop_invoices (tenant, customer_id, created);
create index shop_invoices_created_idx on shop_invoices (tenant, created);

create table shop_invoice_lines (
    tenant       text not null,
    invoice_id   text not null,
    id           text not null,
    position     integer not null,     -- order of the line within its invoice
    product_id   text,
    price_id     text,
    description  text,
    quantity     bigint not null default 1,
    amount       bigint not null default 0,
    currency     text not null,
    primary key (tenant, invoice_id, id)
);
create index shop_invoice_lines_product_idx on shop_invoice_lines (tenant, product_id);

-- One text rendering + embedding per record. Dimensions vary with the embedder, so the column has
-- no type modifier; HNSW indexes are partial expression indexes per (tenant, kind, dims).
create table shop_documents (
    tenant        text not null,
    kind          text not null check (kind in ('product', 'customer', 'invoice')),
    record_id     text not null,
    content       text not null,
    content_hash  text not null,
    embedder      text,
    dims          integer,
    embedding     vector,
    -- full text for the kinds searched by words (products); null for the rest
    fts           tsvector generated always as
                      (case when kind = 'product' then to_tsvector('english', content) end) stored,
    updated_at    timestamptz not null default now(),
    primary key (tenant, kind, record_id)
);
create index shop_documents_fts_idx on shop_documents using gin (fts);

-- Which embedder made a tenant's vectors: queries embed with the same one or are refused.
create table shop_embedding_state (
    tenant      text primary key,
    embedder    text not null,
    dims        integer not null,
    updated_at  timestamptz not null default now()
);

-- Sync cursors per (tenant, source, object); also marks a seeded demo shop.
create table shop_sync_state (
    tenant      text not null,
    source      text not null,
    object      text not null,
    cursor      bigint,                -- newest `created` seen (unix seconds)
    info        jsonb not null default '{}',
    synced_at   timestamptz not null default now(),
    primary key (tenant, source, object)
);
