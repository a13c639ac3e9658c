"""The search's statements with positional parameters (proxy.shop.search_sql)."""

from __future__ import annotations

import pytest
from psycopg import sql

from proxy.shop.search_sql import positional


def test_names_become_numbers_in_order_of_first_use() -> None:
    got = positional("select %(b)s, %(a)s::int, %(b)s || 'x'")
    assert got.text == "select $1, $2::int, $1 || 'x'"
    assert got.names == ("b", "a")
    assert got.args({"a": 1, "b": "y", "unused": 3}) == ["y", 1]


def test_a_doubled_percent_sign_is_one_and_a_lone_one_stays() -> None:
    got = positional("select 'a%%b' like %(p)s, 5 % 2")
    assert got.text == "select 'a%b' like $1, 5 % 2"
    assert got.names == ("p",)


def test_a_composed_statement_converts_as_psycopg_would_send_it() -> None:
    query = sql.SQL("select {} from t where x = {} and y = {}").format(
        sql.Identifier("c"), sql.Placeholder("x"), sql.Placeholder("y")
    )
    got = positional(query.as_string(None))
    assert got.text == 'select "c" from t where x = $1 and y = $2'
    with pytest.raises(KeyError):
        got.args({"x": 1})  # every name must be given
