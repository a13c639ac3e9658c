"""Pooled connections come back clean: what a block leaves open is committed or rolled back, as
psycopg's own connection block does, and a statement cut short does not poison the pool."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import anyio
import pytest
from psycopg import errors
from psycopg.pq import TransactionStatus

from proxy.store.db import Database


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    async with Database.connect(pg_url, min_size=1, max_size=1, migrate=False) as database:
        yield database


@pytest.fixture
async def table(db: Database) -> AsyncIterator[str]:
    name = f"pool_check_{secrets.token_hex(4)}"
    await db.execute(f"create table {name} (n int)")
    yield name
    await db.execute(f"drop table {name}")


async def idle(db: Database) -> bool:
    async with db.connection() as conn:
        return conn.pgconn.transaction_status == TransactionStatus.IDLE


async def test_an_error_in_a_block_rolls_its_transaction_back(db: Database, table: str) -> None:
    with pytest.raises(RuntimeError):
        async with db.connection() as conn:
            await conn.execute("begin")
            await conn.execute(f"insert into {table} values (1)")
            raise RuntimeError("a bug")
    assert await idle(db)
    assert await db.fetch_all(f"select n from {table}") == []


async def test_a_transaction_left_open_by_a_block_is_committed(db: Database, table: str) -> None:
    async with db.connection() as conn:
        await conn.execute("begin")
        await conn.execute(f"insert into {table} values (2)")
    assert await idle(db)
    assert await db.fetch_all(f"select n from {table}") == [{"n": 2}]


async def test_a_failed_statement_leaves_the_connection_usable(db: Database, table: str) -> None:
    with pytest.raises(errors.UndefinedTable):
        await db.fetch_one("select * from no_such_table_here")
    assert await db.execute(f"insert into {table} values (3)") == 1
    assert await db.fetch_one(f"select n from {table}") == {"n": 3}


async def test_a_statement_cancelled_midway_does_not_come_back_busy(db: Database) -> None:
    with anyio.move_on_after(0.2):
        await db.fetch_one("select pg_sleep(30)")
    # the one pooled connection was dropped and replaced, not handed out mid-query
    assert await db.fetch_one("select 1 as one", ()) == {"one": 1}
    assert await idle(db)
