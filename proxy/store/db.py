"""The database: an async psycopg pool on ``DATABASE_URL``, or on an embedded Postgres.

With no ``DATABASE_URL`` the service starts PostgreSQL + pgvector from the ``pgserver`` package,
keeping its data under ``PROXY_DATA_DIR`` (see :mod:`proxy.store.embedded`). Nothing outside this
module and that one knows which of the two runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import anyio
from psycopg import AsyncConnection, sql
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from proxy.store.migrate import apply_migrations

logger = logging.getLogger(__name__)

Query = str | bytes | sql.SQL | sql.Composed
Connection = AsyncConnection[DictRow]

_wait_limit: ContextVar[float | None] = ContextVar("pool_wait_limit", default=None)
request_wait_limit = _wait_limit  # set per request without a ``with`` (proxy.api.middleware)


@contextmanager
def pool_wait_limit(seconds: float | None) -> Iterator[None]:
    """Within the block, and in tasks started from it, a wait for a pooled connection ends after
    ``seconds`` (``PoolTimeout``) unless a call names its own timeout. Requests use it to answer
    503 promptly when the database is away, rather than after the pool's long default wait."""
    token = _wait_limit.set(seconds)
    try:
        yield
    finally:
        _wait_limit.reset(token)


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded server for ``data_dir`` and return its URI; it is let go when
    this process exits (and stopped then if no other process of ours uses it). Prefer
    :func:`database_url`, which lets go as soon as its block ends."""
    from proxy.store import embedded

    return embedded.acquire(data_dir)


async def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """``DATABASE_URL``, or the embedded server's URI, held until this process exits."""
    if database_url:
        return database_url
    return await anyio.to_thread.run_sync(start_embedded_postgres, data_dir)


@asynccontextmanager
async def database_url(database_url: str | None, data_dir: Path) -> AsyncIterator[str]:
    """``DATABASE_URL``, or the embedded server's URI while the block runs: when it ends (normally,
    by an error or by cancellation) the server is stopped unless another process still uses it."""
    if database_url:
        yield database_url
        return
    from proxy.store import embedded

    async with embedded.running_async(data_dir) as uri:
        yield uri


POOL_TIMEOUT = 30.0  # seconds to wait for a pooled connection, and for the pool to open


class Database:
    """Owns the connection pool. ``async with Database.connect(...)`` opens, migrates and closes."""

    def __init__(self, pool: AsyncConnectionPool[Connection]) -> None:
        self.pool = pool

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = POOL_TIMEOUT, migrate: bool = True
    ) -> AsyncIterator[Database]:
        pool = AsyncConnectionPool(
            url,
            connection_class=Connection,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=POOL_TIMEOUT)
            db = cls(pool)
            if migrate:
                async with pool.connection() as conn:
                    await apply_migrations(conn)
            yield db
        finally:
            # also when interrupted while opening (Ctrl+C, SIGTERM): psycopg turns the cancellation
            # of a connection attempt into a failed attempt, so the pool's workers never end
            # unless the pool is closed, and the event loop would wait for them forever
            with anyio.CancelScope(shield=True):
                await pool.close()

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[Connection]:
        """A pooled connection; waiting for one longer than ``timeout`` (default: the
        :func:`pool_wait_limit` in force, else the pool's) raises PoolTimeout."""
        conn = await self._take(timeout)
        try:
            yield conn
        except BaseException as exc:
            await self._give_back(conn, exc)
            raise
        await self._give_back(conn)

    # The pool's own ``connection()`` block runs psycopg's connection block inside it, which commits
    # (or rolls back) on the way out, under the connection's lock, before ``putconn``. These
    # connections are in autocommit mode: after a statement they are idle, with nothing to commit.
    # So a connection is taken and given back directly, and psycopg's block runs only when a
    # transaction was left open (or a statement is still running): two generator-based context
    # managers and a locked no-op ``commit()`` less per statement. Measured: taking and giving back
    # a connection in a block cost 15-20 µs of CPU before, 7-10 µs now; a chat runs 4 statements.
    async def _take(self, timeout: float | None = None) -> Connection:
        return await self.pool.getconn(timeout=timeout if timeout is not None else _wait_limit.get())

    async def _give_back(self, conn: Connection, error: BaseException | None = None) -> None:
        try:
            if conn.pgconn.transaction_status != TransactionStatus.IDLE:
                await conn.__aexit__(type(error) if error else None, error, error.__traceback__ if error else None)
        finally:
            await self.pool.putconn(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def fetch_one(self, query: Query, params: Any = None) -> dict[str, Any] | None:
        conn = await self._take()
        try:
            cur = await conn.execute(query, params)
            row = await cur.fetchone()
        except BaseException as exc:
            await self._give_back(conn, exc)
            raise
        await self._give_back(conn)
        return row

    async def fetch_all(self, query: Query, params: Any = None) -> list[dict[str, Any]]:
        conn = await self._take()
        try:
            cur = await conn.execute(query, params)
            rows = await cur.fetchall()
        except BaseException as exc:
            await self._give_back(conn, exc)
            raise
        await self._give_back(conn)
        return rows

    async def execute(self, query: Query, params: Any = None) -> int:
        conn = await self._take()
        try:
            cur = await conn.execute(query, params)
        except BaseException as exc:
            await self._give_back(conn, exc)
            raise
        await self._give_back(conn)
        return cur.rowcount
