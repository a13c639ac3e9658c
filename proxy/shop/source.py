"""Where a tenant's shop data lives, behind one relational shape.

Every query the tools run starts with ``data.relations()``, a ``WITH`` clause defining

- ``products(id, name, description, active, category, created)``
- ``prices(id, product_id, currency, unit_amount, active, recurring)``
- ``customers(id, email, name, created, user_id)``
- ``invoices(id, number, customer_id, currency, status, total, created)``
- ``lines(invoice_id, id, position, product_id, quantity, amount, currency, description)``
- ``product_text(id, fts)`` for full-text search

over either our own tables (Stripe sync, demo) or the tables Airbyte's PGVector destination wrote
(:mod:`proxy.shop.airbyte`). Vector candidates come from ``ann_query``. The tenant is inlined as
a literal so that partial indexes per tenant match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from psycopg import sql

from proxy.errors import ProxyError
from proxy.shop.embedders import Embedder, EmbeddingError

if TYPE_CHECKING:
    from proxy.shop.config import ShopConfig
    from proxy.store.db import Database


class ShopDataError(ProxyError):
    """The shop data cannot answer (not synced, wrong embedder, missing table); says what to do."""

    code = "shop_data_unavailable"


class ShopData(Protocol):
    @property
    def tenant(self) -> str: ...

    def relations(self) -> sql.Composable: ...

    async def vector_dims(self, db: Database, embedder: Embedder) -> int: ...

    def ann_query(self, dims: int) -> sql.Composable: ...

    def missing(self, what: str) -> str:
        """What to do when the data has invoices but no lines (``what="lines"``), or lines
        without products (``"products"``)."""
        ...


def _native(tenant: sql.Literal) -> sql.Composable:
    return sql.SQL(
        "with products as not materialized (select id, name, description, active, metadata->>'category' as"
        " category, created"
        " from shop_products where tenant = {t} and not deleted),"
        # the few products a search must leave out, from a small partial index (migration 0502)
        " inactive_products as not materialized (select id from shop_products where tenant = {t} and (deleted or"
        " not active)),"
        " prices as not materialized (select id, product_id, currency, unit_amount, active, recurring"
        " from shop_prices where tenant = {t}),"
        " customers as not materialized (select id, email, name, created, metadata->>'user_id' as user_id"
        " from shop_customers where tenant = {t} and not deleted),"
        " invoices as not materialized (select id, number, customer_id, currency, status, total, created"
        " from shop_invoices where tenant = {t}),"
        " lines as not materialized (select invoice_id, id, position, product_id, quantity, amount, currency,"
        " description"
        " from shop_invoice_lines where tenant = {t}),"
        " product_text as not materialized (select record_id as id, fts from shop_documents where tenant = {t}"
        " and kind = 'product')"
    ).format(t=tenant)


@dataclass(frozen=True, slots=True)
class NativeShopData:
    """Our tables, filled by the Stripe sync or the demo seeder."""

    tenant: str

    def relations(self) -> sql.Composable:
        return _native(sql.Literal(self.tenant))

    async def vector_dims(self, db: Database, embedder: Embedder) -> int:
        state = await db.fetch_one("select embedder, dims from shop_embedding_state where tenant = %s", (self.tenant,))
        if state is None:
            raise ShopDataError(
                f"the shop data of tenant {self.tenant!r} has no embeddings yet: run "
                f"`python -m proxy sync stripe --tenant {self.tenant}` (or seed-demo)"
            )
        if state["embedder"] != embedder.name:
            raise ShopDataError(
                f"the stored embeddings of tenant {self.tenant!r} were made by {state['embedder']} "
                f"({state['dims']} dimensions) but the tenant is configured for {embedder.name}; vectors of "
                f"different embedders cannot be compared. Run `python -m proxy sync stripe --tenant {self.tenant}` "
                "(or seed-demo) to re-embed."
            )
        return int(state["dims"])

    def missing(self, what: str) -> str:
        run = f"run `python -m proxy sync stripe --tenant {self.tenant} --full`"
        if what == "lines":
            return f"the shop data of tenant {self.tenant!r} has invoices but no invoice lines: {run}"
        return f"the invoice lines of tenant {self.tenant!r} have no product ids: {run}"

    def ann_query(self, dims: int) -> sql.Composable:
        vec = sql.SQL("vector({})").format(sql.Literal(dims))
        return sql.SQL(
            "select d.record_id as id, d.embedding::{v} <=> %(q)s::{v} as distance from shop_documents d"
            " where d.tenant = {t} and d.kind = 'product' and d.dims = {dims}"
            " order by d.embedding::{v} <=> %(q)s::{v} limit %(n)s"
        ).format(v=vec, t=sql.Literal(self.tenant), dims=sql.Literal(dims))


def shop_data(tenant: str, config: ShopConfig) -> ShopData:
    if config.source == "airbyte":
        from proxy.shop.airbyte import AirbyteShopData

        return AirbyteShopData(tenant, dict(config.airbyte_tables))
    return NativeShopData(tenant)


async def missing_lines(db: Database, data: ShopData, *, products: bool = True) -> str | None:
    """Why questions about what was bought cannot be answered, or None when they can: the
    invoices have no lines at all, or (``products``) no line has a product."""
    row = await db.fetch_one(
        data.relations()
        + sql.SQL(
            " select exists (select 1 from invoices) as invoices, exists (select 1 from lines) as lines,"
            " exists (select 1 from lines where product_id is not null) as products"
        )
    )
    if row is None or not row["invoices"]:
        return None
    if not row["lines"]:
        return data.missing("lines")
    if products and not row["products"]:
        return data.missing("products")
    return None


async def query_embedding(embedder: Embedder, text: str, dims: int) -> list[float]:
    """Embed a query and refuse, clearly, when it cannot be compared with the stored vectors."""
    [vector] = await embedder.embed([text])
    if len(vector) != dims:
        raise EmbeddingError(
            f"the embedder {embedder.name} makes {len(vector)}-dimensional vectors but the stored ones have "
            f"{dims} dimensions; mixed dimensions cannot be compared"
        )
    return vector


def vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{v:.6g}" for v in vector) + "]"
