"""Arrays as statement parameters, written as Postgres array literals.

The statements that batch many callers' rows (:mod:`proxy.store.batching`) pass one array per
column, ten or more a statement. psycopg adapts a list in Python, looking up the element type and
dumping element by element: a lone first message's statement (ten one-element arrays) took about
370 µs of the worker's CPU that way, 185 µs with each array written here as one ``{...}`` text,
which goes as a plain string and which the statement casts (``%(x)s::text[]``). The planner sees
an array parameter as before (a JSON document instead made it expect 100 rows, and scan tables).
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
