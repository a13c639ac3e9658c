-- Product search checks each vector candidate's product (active?) and prices (in the filters?)
-- one lookup at a time: a few hundred per search. With the columns in the index, each is an
-- index-only lookup instead of an index lookup plus a heap read.
create index shop_products_active_idx on shop_products (tenant, id) include (active) where not deleted;
create index shop_prices_product_amount_idx on shop_prices (tenant, product_id) include (currency, unit_amount)
    where active and unit_amount is not null;
