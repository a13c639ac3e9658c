"""Arrays as statement parameters, written as Postgres array literals.

psycopg adapts a list element by element in Python, looking up each array's element type first
(about 10 µs an array before its elements); the statements that batch many callers' rows
(:mod:`proxy.store.batching`) pass one array per column, ten or more a statement. Written here as
one ``{...}`` text each, they go as a plain string and the statement casts it (``%(x)s::text[]``),
with the same row estimates for the planner as an array parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

Element = str | int | float | date | None


def _element(value: Element) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        # quoted: inside double quotes a backslash escapes the next character, nothing else is special
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, date):
        return value.isoformat()
    return repr(value) if isinstance(value, float) else str(value)


def array_literal(values: Sequence[Element]) -> str:
    """``values`` as the text of a one-dimensional Postgres array (cast it in the statement)."""
    if values and type(values[0]) is str and None not in values:
        try:
            joined = "".join(values)  # type: ignore[arg-type]
        except TypeError:  # not only strings
            joined = '"'
        if '"' not in joined and "\\" not in joined:  # nothing to escape: each quoted as it is
            return '{"' + '","'.join(values) + '"}'  # type: ignore[arg-type]
    return "{" + ",".join(map(_element, values)) + "}"
