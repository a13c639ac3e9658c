"""SQL that reads one field of an Airbyte record: from its ``metadata`` JSON when the field is there,
else from the ``key: value`` lines of its ``document_content``; and the one row a record's chunks
make."""

from __future__ import annotations

import re
from typing import Any

from psycopg import sql


def table(name: str) -> sql.Composable:
    """A table named as ``schema.table`` or ``table``."""
    return sql.Identifier(*name.split("."))


def _json(doc: str, name: str) -> list[sql.Composable]:
    """A scalar at a dotted path of JSON ``doc``: nested (``{"a": {"b": ..}}``) or, as Airbyte keys a
    dotted metadata field, flat (``{"a.b": ..}``). Objects and lists are not scalars."""
    path = "{" + ",".join(name.split(".")) + "}"
    out: list[sql.Composable] = [
        sql.SQL("(case when jsonb_typeof({d} #> {p}) in ('string', 'number', 'boolean') then {d} #>> {p} end)").format(
            d=sql.SQL(doc), p=sql.Literal(path)
        )
    ]
    if "." in name:
        out.append(
            sql.SQL(
                "(case when jsonb_typeof({d} -> {k}) in ('string', 'number', 'boolean') then {d} ->> {k} end)"
            ).format(d=sql.SQL(doc), k=sql.Literal(name))
        )
    return out


def text_line(text: str, key: str) -> sql.Composable:
    """The first ``key: value`` line of ``text`` (langchain's ``stringify_dict``); ``None`` and
    an empty value (a nested object follows) are no value."""
    pattern = r"(?n)^" + re.escape(key) + r": (.*)$"
    return sql.SQL("nullif(nullif(substring({t} from {p}), 'None'), '')").format(
        t=sql.SQL(text), p=sql.Literal(pattern)
    )


def value(
    names: tuple[str, ...], *, loose: tuple[str, ...] = (), doc: str | None = "r.m", text: str | None = "r.c"
) -> sql.Composable:
    """A field as text: from the metadata JSON first (each of ``names``), else from the content's
    ``name: value`` lines; ``loose`` are keys of nested objects, whose lines the content flattens
    (``pricing: `` / ``price_details: `` / ``product: prod_1``)."""
    parts: list[sql.Composable] = []
    for name in names:
        parts += _json(doc, name) if doc is not None else []
    if text is not None:
        parts += [text_line(text, name) for name in names]
        parts += [text_line(text, key) for key in loose]
    if not parts:
        return sql.SQL("null::text")
    return sql.SQL("coalesce({})").format(sql.SQL(", ").join(parts)) if len(parts) > 1 else parts[0]


def num(expr: sql.Composable) -> sql.Composable:
    return sql.SQL("(case when {e} ~ '^-?[0-9]+(\\.[0-9]+)?$' then round(({e})::numeric) end)::bigint").format(e=expr)


def ts(expr: sql.Composable) -> sql.Composable:
    return sql.SQL(
        "(case when {e} ~ '^[0-9]+(\\.[0-9]+)?$' then to_timestamp(({e})::numeric)"
        " when {e} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}' then ({e})::timestamptz end)"
    ).format(e=expr)


def flag(expr: sql.Composable) -> sql.Composable:
    return sql.SQL("coalesce(lower({}) not in ('false', '0'), true)").format(expr)


def merged(name: str) -> sql.Composable:
    """One row per record: Airbyte splits a long record into chunks (rows) that share
    ``document_id`` and carry the same metadata; their texts are joined in physical order, which
    is not the order they were written in (see :mod:`proxy.shop.airbyte`), so the result must not
    depend on it."""
    return sql.SQL(
        "(select document_id, (array_agg(metadata::jsonb order by ctid desc))[1] as m,"
        " string_agg(document_content, E'\\n' order by ctid) as c from {} group by document_id)"
    ).format(table(name))


def ref(name: str, **kw: Any) -> sql.Composable:
    """A reference to another object: its id, or the ``id`` of the object when it is expanded."""
    return sql.SQL("coalesce({}, {})").format(value((name,), **kw), value((name + ".id",), **{**kw, "text": None}))
