-- The distinct words ('english' lexemes, letters only) of each tenant's product texts: product
-- search tells a misspelt query word by its absence here and corrects it to a word one edit
-- away. A statement trigger keeps the list as documents are written, so a search reads a few
-- thousand short rows instead of every product's text. Words are never removed: a word no
-- product has any more only leaves a typo of it uncorrected, or a correction that finds nothing.
create table shop_product_words (
    tenant  text not null,
    word    text not null,
    primary key (tenant, word)
);

create function shop_product_words_add() returns trigger language plpgsql as $$
begin
    insert into shop_product_words (tenant, word)
    select distinct d.tenant, u.lexeme from written d, unnest(d.fts) u where d.kind = 'product' and d.fts is not null
        and u.lexeme ~ '^[[:alpha:]]+$'
    on conflict do nothing;
    return null;
end
$$;

create trigger shop_product_words_on_insert after insert on shop_documents
    referencing new table as written for each statement execute function shop_product_words_add();
create trigger shop_product_words_on_update after update on shop_documents
    referencing new table as written for each statement execute function shop_product_words_add();

insert into shop_product_words (tenant, word)
select distinct d.tenant, u.lexeme from shop_documents d, unnest(d.fts) u where d.kind = 'product' and d.fts is not null
    and u.lexeme ~ '^[[:alpha:]]+$'
on conflict do nothing;

-- Price filters in search: with a selective range ("under 10 EUR") Postgres starts from the few
-- prices in range instead of reading every product with a common word and checking its price.
create index shop_prices_amount_idx on shop_prices (tenant, currency, unit_amount) where active;
create index shop_prices_any_amount_idx on shop_prices (tenant, unit_amount) where active;
