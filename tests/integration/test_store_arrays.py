"""Array literals (proxy.store.arrays) read back by Postgres as the values they were made from."""

from __future__ import annotations

from datetime import date

import pytest

from proxy.store.arrays import array_literal
from proxy.store.db import Database

AWKWARD = [
    "plain",
    "",
    " spaced out ",
    "NULL",
    "null",
    'say "hi"',
    "back\\slash\\",
    "a,b;c",
    "{braces}",
    "line\nbreak\ttab",
    "ünïcødé ✓ 😀",
    "'single'",
    None,
]


@pytest.mark.parametrize(
    ("values", "cast"),
    [
        (AWKWARD, "text"),
        ([], "text"),
        ([None], "text"),
        ([0, -7, 2**40], "bigint"),
        ([30.0, 0.1, 1e-9, 12345.678], "float8"),
        ([date(2026, 12, 2), date(1999, 1, 31)], "date"),
    ],
)
async def test_values_come_back_unchanged(database: Database, values: list[object], cast: str) -> None:
    row = await database.fetch_one(f"select %s::{cast}[] as got", (array_literal(values),))  # type: ignore[arg-type]
    assert row is not None
    assert row["got"] == values


async def test_unnest_keeps_rows_aligned(database: Database) -> None:
    rows = await database.fetch_all(
        "select * from unnest(%s::text[], %s::int[]) as u(name, n)",
        (array_literal(["a", None, 'q"uote']), array_literal([1, 2, None])),
    )
    assert [(r["name"], r["n"]) for r in rows] == [("a", 1), (None, 2), ('q"uote', None)]
