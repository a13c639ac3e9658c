"""The search's long statements, converted once to Postgres's positional parameters and run as
prepared statements with their generic plan, in one round trip.

psycopg converts a query's ``%(name)s`` placeholders to ``$1, $2, ...`` at every execution, and
caches the conversion only for queries up to 4 KB: the search's statement is 4.6-8 KB (two to
four word tiers), and converting it took 0.1-0.2 ms of Python per search. Converted once per
shape here, it runs on a raw cursor, which sends the text as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, AsyncRawCursor
from psycopg.rows import DictRow, dict_row

_PLACEHOLDER = re.compile(r"%(?:\((\w+)\)s|%)")


@dataclass(frozen=True, slots=True)
class Positional:
    """A statement with ``$n`` parameters, and the name of each, in order."""

    text: str
    names: tuple[str, ...]

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


def positional(text: str) -> Positional:
    """``text`` (with ``%(name)s`` placeholders and ``%%`` for a percent sign) with ``$n`` ones;
    a name used twice is one parameter."""
    order: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return f"${order.setdefault(name, len(order) + 1)}"

    converted = _PLACEHOLDER.sub(number, text)
    return Positional(converted, tuple(order))


async def run_generic(
    conn: AsyncConnection[DictRow], statement: Positional, params: dict[str, Any], settings: dict[str, str]
) -> list[DictRow]:
    """``statement`` in a transaction of its own with ``settings`` (``set_config`` ..., true),
    prepared and run with its generic plan: planning these statements takes longer than running
    them, and their shape needs no parameter-specific plan. The settings and the statement go
    out together in a pipeline, which is one implicit transaction up to its closing Sync (on a
    connection in autocommit mode, as the pool's are): no BEGIN and COMMIT to send and run, and
    a failed statement's transaction ends with the pipeline. JIT is off: the plans' estimated
    costs (their exact branches) are above Postgres's JIT thresholds, so a server built with JIT
    would compile them at every search, for tens of milliseconds."""
    names = sorted(settings)
    configure = "select " + ", ".join(f"set_config('{name}', %s, true)" for name in names)
    cur = AsyncRawCursor(conn, row_factory=dict_row)
    async with conn.pipeline():
        await conn.execute(configure, [settings[name] for name in names], prepare=True)
        await cur.execute(statement.text, statement.args(params), prepare=True)
    return await cur.fetchall()


GENERIC = {"enable_seqscan": "off", "plan_cache_mode": "force_generic_plan", "jit": "off"}
