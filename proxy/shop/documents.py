"""Text renderings and embeddings of our shop records, kept in ``shop_documents``.

A refresh renders every record, embeds only what changed (or everything, when the embedder
changed), records which embedder made the tenant's vectors, and makes sure an HNSW index exists
for each kind at the tenant's dimension.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgvector import Vector
from pgvector.psycopg import register_vector_async
from psycopg import sql

from proxy.shop.embedders import Embedder, EmbeddingError
from proxy.shop.money import fmt
from proxy.shop.store import upsert

if TYPE_CHECKING:
    from proxy.store.db import Database

KINDS = ("product", "customer", "invoice")
DOC_COLUMNS = ("tenant", "kind", "record_id", "content", "content_hash", "embedder", "dims", "embedding")
Progress = Callable[[str, int], None]  # (kind, records embedded so far in this kind)


@dataclass(slots=True)
class DocumentStats:
    rendered: int = 0
    embedded: int = 0
    deleted: int = 0
    embedder: str = ""
    dims: int = 0


async def render_products(db: Database, tenant: str) -> dict[str, str]:
    prices: dict[str, list[str]] = defaultdict(list)
    for row in await db.fetch_all(
        "select product_id, currency, unit_amount, recurring from shop_prices"
        " where tenant = %s and active and unit_amount is not null order by currency, unit_amount",
        (tenant,),
    ):
        label = fmt(row["unit_amount"], row["currency"]) or ""
        prices[row["product_id"]].append(label + (f" per {row['recurring']}" if row["recurring"] else ""))
    out = {}
    for row in await db.fetch_all(
        "select id, name, description, metadata->>'category' as category from shop_products"
        " where tenant = %s and not deleted",
        (tenant,),
    ):
        parts = [f"Product: {row['name']}"]
        if row["category"]:
            parts.append(f"Category: {row['category']}")
        if row["description"]:
            parts.append(f"Description: {row['description']}")
        if prices.get(row["id"]):
            parts.append("Price: " + ", ".join(prices[row["id"]]))
        out[row["id"]] = "\n".join(parts)
    return out


async def render_customers(db: Database, tenant: str) -> dict[str, str]:
    out = {}
    for row in await db.fetch_all(
        "select id, name, email, phone, metadata->>'city' as city from shop_customers where tenant = %s and not"
        " deleted",
        (tenant,),
    ):
        parts = [f"Customer: {row['name'] or 'unnamed'}"]
        parts += [
            f"{label}: {row[key]}"
            for label, key in (("Email", "email"), ("Phone", "phone"), ("City", "city"))
            if row[key]
        ]
        out[row["id"]] = "\n".join(parts)
    return out


async def render_invoices(db: Database, tenant: str) -> dict[str, str]:
    items: dict[str, list[str]] = defaultdict(list)
    for row in await db.fetch_all(
        "select l.invoice_id, l.quantity, l.amount, l.currency, coalesce(p.name, l.description) as name"
        " from shop_invoice_lines l left join shop_products p on p.tenant = l.tenant and p.id = l.product_id"
        " where l.tenant = %s order by l.invoice_id, l.position",
        (tenant,),
    ):
        items[row["invoice_id"]].append(f"{row['quantity']} x {row['name']} ({fmt(row['amount'], row['currency'])})")
    out = {}
    for row in await db.fetch_all(
        "select i.id, i.number, i.created, i.status, i.total, i.currency,"
        " coalesce(c.name, i.customer_name) as who, coalesce(c.email, i.customer_email) as email"
        " from shop_invoices i left join shop_customers c on c.tenant = i.tenant and c.id = i.customer_id"
        " where i.tenant = %s",
        (tenant,),
    ):
        who = row["who"] or row["email"] or "unknown"
        head = f"Invoice {row['number'] or row['id']} on {row['created']:%Y-%m-%d} for {who}"
        body = "; ".join(items.get(row["id"], [])) or "no lines"
        out[row["id"]] = f"{head}\nItems: {body}\nTotal: {fmt(row['total'], row['currency'])}, {row['status']}"
    return out


RENDERERS: dict[str, Callable[[Database, str], Awaitable[dict[str, str]]]] = {
    "product": render_products,
    "customer": render_customers,
    "invoice": render_invoices,
}


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


DOC_TYPES = ("text", "text", "text", "text", "text", "text", "int4", "vector")
INDEXED_KINDS = ("product",)  # the kinds searched by vector; the others are embedded, not indexed


async def _embed_kind(
    db: Database, tenant: str, kind: str, embedder: Embedder, stats: DocumentStats, progress: Progress | None
) -> None:
    rendered = await RENDERERS[kind](db, tenant)
    stats.rendered += len(rendered)
    existing = {
        r["record_id"]: (r["content_hash"], r["embedder"])
        for r in await db.fetch_all(
            "select record_id, content_hash, embedder from shop_documents where tenant = %s and kind = %s",
            (tenant, kind),
        )
    }
    gone = [rid for rid in existing if rid not in rendered]
    if gone:
        stats.deleted += await db.execute(
            "delete from shop_documents where tenant = %s and kind = %s and record_id = any(%s)", (tenant, kind, gone)
        )
    todo = [(rid, text, _hash(text)) for rid, text in sorted(rendered.items())]
    todo = [t for t in todo if existing.get(t[0]) != (t[2], embedder.name)]
    if len(todo) > 2000 and kind in INDEXED_KINDS:  # a bulk write is faster without the HNSW index; rebuilt after
        await drop_stale_indexes(db, tenant, {n for n in await _tenant_indexes(db, tenant) if f"_{kind}_" not in n})
    step = max(embedder.batch_size, 1)
    for start in range(0, len(todo), step * 8):  # one write per few embedding calls
        chunk = todo[start : start + step * 8]
        vectors: list[list[float]] = []
        for i in range(0, len(chunk), step):
            vectors += await embedder.embed([text for _, text, _ in chunk[i : i + step]])
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or (stats.dims and stats.dims not in dims):
            raise EmbeddingError(
                f"the embedder {embedder.name} returned vectors of {sorted(dims | {stats.dims} - {0})} dimensions;"
                " one tenant's vectors must all have the same dimension"
            )
        stats.dims = dims.pop()
        rows = [
            (tenant, kind, rid, text, digest, embedder.name, stats.dims, Vector(vec))
            for (rid, text, digest), vec in zip(chunk, vectors, strict=True)
        ]
        async with db.transaction() as conn:
            await register_vector_async(conn)
            await upsert(
                conn,
                "shop_documents",
                DOC_COLUMNS,
                ("tenant", "kind", "record_id"),
                rows,
                touch="updated_at",
                binary_types=DOC_TYPES,
            )
        stats.embedded += len(rows)
        if progress:
            progress(kind, start + len(chunk))


async def refresh_documents(
    db: Database, tenant: str, embedder: Embedder, *, progress: Progress | None = None
) -> DocumentStats:
    """Render all records, embed the changed ones, then record the embedder and ensure indexes."""
    stats = DocumentStats(embedder=embedder.name)
    for kind in KINDS:
        await _embed_kind(db, tenant, kind, embedder, stats, progress)
    spaces = await db.fetch_all(
        "select embedder, dims, count(*) as n from shop_documents where tenant = %s group by 1, 2", (tenant,)
    )
    if len(spaces) > 1:
        found = ", ".join(f"{s['n']} by {s['embedder']} ({s['dims']} dims)" for s in spaces)
        raise EmbeddingError(f"tenant {tenant!r} has vectors from several embedders ({found}); re-run the refresh")
    if not spaces:
        return stats
    stats.dims = int(spaces[0]["dims"])
    await db.execute(
        "insert into shop_embedding_state (tenant, embedder, dims) values (%s, %s, %s)"
        " on conflict (tenant) do update set embedder = excluded.embedder, dims = excluded.dims, updated_at = now()",
        (tenant, embedder.name, stats.dims),
    )
    for kind in INDEXED_KINDS:
        await ensure_hnsw_index(db, tenant, kind, stats.dims)
    await drop_stale_indexes(db, tenant, {index_name(tenant, kind, stats.dims) for kind in INDEXED_KINDS})
    return stats


def _index_prefix(tenant: str) -> str:
    return "shop_documents_hnsw_" + hashlib.blake2b(tenant.encode(), digest_size=5).hexdigest() + "_"


def index_name(tenant: str, kind: str, dims: int) -> str:
    return f"{_index_prefix(tenant)}{kind}_{dims}"


async def _tenant_indexes(db: Database, tenant: str) -> list[str]:
    rows: list[dict[str, Any]] = await db.fetch_all(
        "select indexname from pg_indexes where tablename = 'shop_documents' and starts_with(indexname, %s)",
        (_index_prefix(tenant),),
    )
    return [row["indexname"] for row in rows]


async def ensure_hnsw_index(db: Database, tenant: str, kind: str, dims: int) -> None:
    """A partial HNSW index per (tenant, kind, dims), matching ``NativeShopData.ann_query``."""
    statement = sql.SQL(
        "create index if not exists {name} on shop_documents using hnsw ((embedding::vector({d})) vector_cosine_ops)"
        " with (m = 16, ef_construction = 128) where tenant = {t} and kind = {k} and dims = {d}"
    ).format(
        name=sql.Identifier(index_name(tenant, kind, dims)),
        d=sql.Literal(dims),
        t=sql.Literal(tenant),
        k=sql.Literal(kind),
    )
    await db.execute(statement)


async def drop_stale_indexes(db: Database, tenant: str, keep: set[str]) -> None:
    for name in await _tenant_indexes(db, tenant):
        if name not in keep:
            await db.execute(sql.SQL("drop index if exists {}").format(sql.Identifier(name)))
