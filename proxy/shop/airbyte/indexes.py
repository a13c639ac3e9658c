"""Indexes on Airbyte's tables: a full refresh replaces a table and its indexes with it, so they are
re-created, idempotently, whenever a table's identity (its oid) changes."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from proxy.shop.airbyte.fields import table as table_name

if TYPE_CHECKING:
    from proxy.store.db import Database

logger = logging.getLogger(__name__)
_indexed: set[int] = set()  # table oids whose indexes this process has ensured


def _index(table: str, what: str) -> sql.Identifier:
    digest = hashlib.blake2b(table.encode(), digest_size=4).hexdigest()
    return sql.Identifier(f"{table.split('.')[-1][:36]}_{digest}_{what}")


async def ensure_indexes(db: Database, tables: dict[str, str]) -> list[str]:
    """HNSW and full-text indexes on the products table, document_id indexes on all; idempotent.
    Returns problems (e.g. we do not own the table) instead of failing: search works without them."""
    statements = []
    for stream, table in tables.items():
        statements.append(
            sql.SQL("create index if not exists {} on {} (document_id)").format(_index(table, "doc"), table_name(table))
        )
        if stream == "products":
            statements.append(
                sql.SQL("create index if not exists {} on {} using hnsw (embedding vector_cosine_ops)").format(
                    _index(table, "hnsw"), table_name(table)
                )
            )
            statements.append(
                sql.SQL(
                    "create index if not exists {} on {} using gin (to_tsvector('english', document_content))"
                ).format(_index(table, "fts"), table_name(table))
            )
    problems = []
    for statement in statements:
        try:
            await db.execute(statement)
        except psycopg.Error as exc:
            logger.warning("cannot index an Airbyte table: %s", exc)
            problems.append(str(exc).splitlines()[0])
    return problems


async def ensure_indexes_once(db: Database, tables: dict[str, str], oid: int) -> None:
    """:func:`ensure_indexes`, once per identity ``oid`` of the products table in this process."""
    if oid not in _indexed:
        await ensure_indexes(db, tables)
        _indexed.add(oid)
