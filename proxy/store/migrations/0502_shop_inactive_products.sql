-- Product search leaves out products that are not for sale, checking a few hundred candidates per
-- search. Looked up among the inactive ones (usually few) instead of among every product, each
-- check is a probe of a small index rather than a descent of the large one.
create index shop_products_inactive_idx on shop_products (tenant, id) where deleted or not active;
