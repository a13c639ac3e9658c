"""The nearest products to a search's vector within its filters: the ``near`` part of the search's
statement, and the only part that depends on how the vectors are stored.

On our own tables the vector and the product's text are one row, read together; other sources
(a shop's own database, through :meth:`ShopData.ann_query`) give the nearest vectors, and their
texts are read separately. With a price filter the nearest within the filter are found by one of
two strategies, walked or compared exactly, chosen by the statement itself (see ``near``): how
many products each reads is :mod:`proxy.shop.search_ranked`'s tuning.
"""

from __future__ import annotations

from psycopg import sql

from proxy.shop.price_filters import Filters, price_conditions, product_filter
from proxy.shop.source import NativeShopData, ShopData


def near(data: ShopData, f: Filters, dims: int, *, exact: bool) -> tuple[sql.Composable, bool]:
    """CTEs ending in ``near(id, distance[, fts])``: the %(top)s products nearest to the query
    vector %(q)s within the filters, and whether ``near`` carries the product's text (our own
    tables: it is read with the vector, so the query's words are checked without a second lookup).

    pgvector 0.6 has no iterative index scans: a filter applies after the HNSW walk, which returns
    at most ``hnsw.ef_search`` products. So with a price filter the walk returns all it visited
    (%(n)s = FILTERED_FETCH, or NEAREST_FETCH without product words); the nearest of those within
    the filter are the nearest within the filter (about 40 and 64 when a sixth of the products
    pass; with product words the tiers add the word matches the walk missed). When few prices lie
    within the filters (fewer than %(few)s, a bounded count from the price indexes), or when fewer
    than %(limit)s products remain after the walk, the products within the filters are compared
    exactly instead: complete, and faster than the walk for a selective filter. Each strategy
    runs only when its condition, evaluated once per statement, holds. ``exact`` compares every
    vector within the filters (the reference for recall)."""
    if not isinstance(data, NativeShopData):
        near = sql.SQL(
            "ann as ({ann}), near as (select c.id, min(c.distance) as distance from ann c where {flt} group by c.id"
            " order by 2, 1 limit %(top)s)"
        ).format(ann=data.ann_query(dims), flt=product_filter("c", f))
        return near, False
    vec = sql.SQL("vector({})").format(sql.Literal(dims))
    distance = sql.SQL("d.embedding::{v} <=> %(q)s::{v}").format(v=vec)
    doc = sql.SQL(
        "select d.record_id as id, {distance} as distance, d.fts from shop_documents d where d.tenant = {t}"
        " and d.kind = 'product' and d.dims = {dims}"
    ).format(distance=distance, t=sql.Literal(data.tenant), dims=sql.Literal(dims))

    def exhaustive(cond: sql.Composable, gate: sql.Composable) -> sql.Composable:
        # every product within ``cond`` compared exactly: the fence (offset 0) keeps the HNSW
        # index, which would return only the first ef_search products, out of the plan
        return sql.SQL(
            "select x.* from ({doc} and {cond} offset 0) x where {gate} order by x.distance, x.id limit %(top)s"
        ).format(doc=doc, cond=cond, gate=gate)

    if exact:
        return sql.SQL("near as ({})").format(
            exhaustive(product_filter("d", f, "record_id", native=True), sql.SQL("true"))
        ), True
    # the walk: ORDER BY must be the indexed expression itself for the HNSW index to serve it
    walk = sql.SQL("select c.* from ({doc} order by {distance} limit %(n)s) c where {flt}").format(
        doc=doc, distance=distance, flt=product_filter("c", f, per_row=True, native=True)
    )
    price = price_conditions(f)
    if not price:
        return sql.SQL("near as ({} order by c.distance, c.id limit %(top)s)").format(walk), True
    return (
        sql.SQL(
            "sel as (select count(*) >= %(few)s as many from (select 1 from prices pr where pr.active and"
            " pr.unit_amount is not null and {price} limit %(few)s) z),"
            " walked as ({walk} and (select many from sel)),"
            " compared as ({exhaustive}),"
            " near as (select * from (select distinct on (u.id) u.* from (select * from walked union all select *"
            " from compared) u order by u.id, u.distance) v order by v.distance, v.id limit %(top)s)"
        ).format(
            price=sql.SQL(" and ").join(price),
            walk=walk,
            exhaustive=exhaustive(
                product_filter("d", f, "record_id", per_row=True, prices_per_row=False, native=True),
                sql.SQL("(not (select many from sel) or (select count(*) from walked) < %(limit)s)"),
            ),
        ),
        True,
    )
