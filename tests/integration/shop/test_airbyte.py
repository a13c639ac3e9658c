"""Tables written by Airbyte's real PGVector destination serve the shop tools with exact answers.

The destination (``airbyte-destination-pgvector`` 0.1.4 from PyPI) runs in its own cached
virtualenv (see ``airbyte_destination.py``), reading Airbyte RECORD messages of a Stripe-format
shop on stdin. Its text splitter gets a local length function (it would download GPT-2's BPE files);
its embeddings are its ``fake`` ones, or our OpenAI-protocol simulator's through its
``openai_compatible`` mode.

One destination run writes the five streams of Airbyte's native Stripe source; the tutorial's
connector-builder source writes three of them (``products``, ``customers``, ``invoices`` with the
lines nested under ``lines.data``), so a tenant configured with those three tables has exactly the
tutorial's layout. Runs:

- ``default``: Airbyte's default processing (every field is text and metadata), invoice lines in
  the shape of API 2025-03-31 (``pricing.price_details.product``), records long enough to be split
  into several chunks.
- ``chosen``: chosen text and metadata fields, lines in the older shape (``price.product``); the
  lines and their products are only in the text.
- ``lacking``: fields chosen without lines or products, so the tools must say what is missing;
  embedded by the simulator, for search with the tenant's own embedder.

Every answer is checked against ``airbyte_reference``, computed in Python from the records.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from psycopg import sql

from proxy.shop.config import ShopConfig
from proxy.shop.demo_data import DemoSize
from proxy.shop.embedders import EmbedderCache
from proxy.shop.tools import register_shop_tools
from proxy.simulator import SimulatorServer
from proxy.store.db import Database
from proxy.tenants import TenantConfig
from proxy.tools.registry import ToolContext, ToolOutcome, ToolRegistry, ToolServices
from proxy.visitors import Visitor
from tests.support.airbyte_destination import (
    NATIVE_STREAMS,
    TUTORIAL_STREAMS,
    destination_python,
    stripe_records,
    write_tables,
)
from tests.support.airbyte_reference import Reference

pytestmark = pytest.mark.integration

# every answer is checked against the reference computed from the same records, whatever their
# number: 400 invoices of 150 customers give each tool plenty to rank, and the destination runs
# (chunking, embedding and loading every record) take about a fifth less time than with 1,000
SIZE = DemoSize(products=30, customers=150, invoices=400)
SMALL = DemoSize(products=30, customers=40, invoices=120)
DEFAULT = {"chunk_size": 60, "chunk_overlap": 0, "text_fields": [], "metadata_fields": [], "field_name_mappings": []}
CHOSEN = {
    "chunk_size": 120,  # an invoice's lines in its text are split over chunks
    "chunk_overlap": 0,
    # every stream needs one text field it has; line items keep their price (and product) as text
    "text_fields": ["name", "description", "email", "number", "nickname", "lines.data", "price"],
    "metadata_fields": [
        "id",
        "active",
        "created",
        "email",
        "name",
        "metadata.category",
        "metadata.user_id",
        "customer",
        "currency",
        "status",
        "total",
        "number",
        "product",
        "unit_amount",
        "invoice_id",
        "quantity",
        "amount",
    ],
    "field_name_mappings": [],
}
LACKING = {**CHOSEN, "text_fields": ["name", "description", "number", "nickname"]}  # no lines.data, no price


@dataclass
class Run:
    records: dict[str, list[dict[str, Any]]]
    tables: dict[str, str]
    reference: Reference

    def shop(self, layout: str, **extra: Any) -> ShopConfig:
        streams = TUTORIAL_STREAMS if layout == "tutorial" else NATIVE_STREAMS
        return ShopConfig(
            source="airbyte",
            airbyte_tables={s: self.tables[s] for s in streams},
            embedder=extra.pop("embedder", "offline:1536"),
            **extra,
        )


@pytest.fixture(scope="module")
async def destination() -> Any:
    return await anyio.to_thread.run_sync(destination_python)


@pytest.fixture(scope="module")
def simulator() -> Any:
    with SimulatorServer() as sim:
        yield sim


async def _write(
    database: Database,
    pg_url: str,
    python: Any,
    schema: str,
    size: DemoSize,
    version: str,
    processing: dict[str, Any],
    embedding: dict[str, Any] | None = None,
) -> Run:
    records = stripe_records(version=version, size=size)
    await database.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))

    def write() -> dict[str, str]:
        return write_tables(
            python,
            pg_url,
            schema=schema,
            records=records,
            streams=NATIVE_STREAMS,
            processing=processing,
            embedding=embedding,
        )

    tables = await anyio.to_thread.run_sync(write)
    return Run(records, tables, Reference(records))


@pytest.fixture(scope="module")
async def runs(database: Database, pg_url: str, destination: Any, simulator: Any) -> dict[str, Run]:
    """The module's three destination runs, written side by side: each is a process of its own
    (its imports, its chunking, its inserts), so together they take about as long as the longest."""
    embedding = {
        "mode": "openai_compatible",
        "base_url": simulator.base_url,
        "api_key": "sk-test",
        "model_name": "text-embedding-3-small",
        "dimensions": 1536,
    }
    plans: dict[str, tuple[Any, ...]] = {
        "default": ("ab_default", SIZE, "2025-03-31", DEFAULT),
        "chosen": ("ab_chosen", SIZE, "2024-06-20", CHOSEN),
        "lacking": ("ab_lacking", SMALL, "2024-06-20", LACKING, embedding),
    }
    done: dict[str, Run] = {}

    async def write(name: str) -> None:
        done[name] = await _write(database, pg_url, destination, *plans[name])

    async with anyio.create_task_group() as group:
        for name in plans:
            group.start_soon(write, name)
    return done


@pytest.fixture(scope="module")
def default_run(runs: dict[str, Run]) -> Run:
    return runs["default"]


@pytest.fixture(scope="module")
def chosen_run(runs: dict[str, Run]) -> Run:
    return runs["chosen"]


@pytest.fixture(scope="module")
def lacking_run(runs: dict[str, Run]) -> Run:
    return runs["lacking"]


@pytest.fixture(scope="module")
def tools() -> Any:
    registry = ToolRegistry()
    register_shop_tools(registry)
    return registry.subset(registry.names)


STAFF = Visitor("user:staff", "staff", "staff", "staff@shop.example")


@pytest.fixture
def call(database: Database, tools: Any) -> Any:
    async def call(
        name: str,
        args: dict[str, Any],
        shop: ShopConfig,
        *,
        visitor: Visitor = STAFF,
        env: dict[str, str] | None = None,
    ) -> ToolOutcome:
        config = TenantConfig(name="ab", domains=["ab.example"], shop=shop, api_key_env="AB_KEY" if env else None)
        services = ToolServices(embedders=EmbedderCache(env=env or {}))
        ctx = ToolContext(
            tenant="ab", thread_id="thr", visitor=visitor, tenant_config=config, db=database, services=services
        )
        return await tools.dispatch(name, json.dumps(args), ctx)

    return call


def ok(outcome: ToolOutcome) -> Any:
    assert outcome.ok, outcome.output
    return json.loads(outcome.output)


RUNS = ["default_run", "chosen_run"]
LAYOUTS = ["tutorial", "native"]


@pytest.fixture(params=[(r, la) for r in RUNS for la in LAYOUTS], ids=lambda p: f"{p[0][:-4]}-{p[1]}")
def case(request: pytest.FixtureRequest) -> tuple[Run, ShopConfig]:
    run_name, layout = request.param
    run: Run = request.getfixturevalue(run_name)
    return run, run.shop(layout)


async def insight(call: Any, shop: ShopConfig, **args: Any) -> Any:
    return ok(await call("shop_insights", args, shop))


async def test_the_tables_are_airbytes_own(default_run: Run, chosen_run: Run, database: Database) -> None:
    """What the destination wrote: chunks sharing document_id, all fields as JSON metadata by
    default, langchain's ``key: value`` text with nested objects as their own lines."""
    table = default_run.tables["invoices"]
    row = await database.fetch_one(
        sql.SQL("select count(*) as chunks, count(distinct document_id) as records from {}").format(
            sql.Identifier(*table.split("."))
        )
    )
    assert row and row["records"] == len(default_run.records["invoices"]) and row["chunks"] > row["records"]
    sample = await database.fetch_one(
        sql.SQL("select metadata::jsonb as m, document_content as c from {} where document_id = %s limit 1").format(
            sql.Identifier(*table.split("."))
        ),
        ("Stream_invoices_Key_" + default_run.records["invoices"][0]["id"],),
    )
    assert sample and isinstance(sample["m"]["lines"]["data"][0]["pricing"]["price_details"]["product"], str)
    chosen = await database.fetch_one(
        sql.SQL(
            "select metadata::jsonb as m, string_agg(document_content, E'\\n') as c from {} group by 1 limit 1"
        ).format(sql.Identifier(*chosen_run.tables["invoice_line_items"].split(".")))
    )
    assert chosen and "price" not in chosen["m"] and "\nproduct: prod_" in chosen["c"]


async def test_best_sellers(case: tuple[Run, ShopConfig], call: Any) -> None:
    run, shop = case
    ref = run.reference
    got = await insight(call, shop, question="best_sellers", limit=10)
    assert got["products"] == ref.best_sellers(limit=10)
    got = await insight(call, shop, question="best_sellers", by="revenue", limit=5)
    assert got["products"] == ref.best_sellers(by="revenue", limit=5)
    got = await insight(call, shop, question="best_sellers", date_from="2026-01-01", date_to="2026-01-31")
    assert got["products"] == ref.best_sellers(date_from="2026-01-01", date_to="2026-01-31")
    assert got["products"], "January has orders"


async def test_bought_together(case: tuple[Run, ShopConfig], call: Any) -> None:
    run, shop = case
    got = await insight(call, shop, question="bought_together", limit=5)
    pairs = [
        (p["products"][0]["id"], p["products"][1]["id"], p["orders"]) for p in got["pairs_bought_in_the_same_order"]
    ]
    assert pairs == run.reference.bought_together(limit=5) and pairs
    first = pairs[0][0]
    got = await insight(call, shop, question="bought_together", product_id=first, limit=5)
    base, companions = run.reference.companions(first, limit=5)
    assert got["orders_with_product"] == base
    assert [(c["id"], c["orders"]) for c in got["most_often_in_the_same_order"]] == companions


@pytest.mark.parametrize("basis", ["order", "customer"])
async def test_second_product(case: tuple[Run, ShopConfig], call: Any, basis: str) -> None:
    run, shop = case
    got = await insight(call, shop, question="second_product", basis=basis, limit=5)
    total, ranked = run.reference.second_product(basis, limit=5)
    assert got["groups_counted"] == total and total > 0
    assert [(p["id"], p["count"]) for p in got["second_products"]] == ranked


@pytest.mark.parametrize(("which", "currency"), [("cheapest", None), ("largest", "usd")])
async def test_extreme_purchases(case: tuple[Run, ShopConfig], call: Any, which: str, currency: str | None) -> None:
    """The tutorial's "who made the cheapest purchase, and what did they buy?"."""
    run, shop = case
    args = {"question": f"{which}_purchase"} | ({"currency": currency} if currency else {})
    got = await insight(call, shop, **args)
    assert got["orders"] == [run.reference.extreme(which, currency)]
    assert got["orders"][0]["items"] and all(i["product_id"] for i in got["orders"][0]["items"])


async def test_money_and_customers(case: tuple[Run, ShopConfig], call: Any) -> None:
    run, shop = case
    ref = run.reference
    got = await insight(call, shop, question="revenue", by_month=True)
    want = ref.revenue()
    assert {k: got[k] for k in want} == want
    got = await insight(call, shop, question="repeat_purchase_rate")
    assert (got["customers_with_orders"], got["customers_with_two_or_more_orders"]) == ref.repeat_rate()
    got = await insight(call, shop, question="top_customers", limit=5)
    assert [(c["id"], c["orders"], c["spent"]) for c in got["customers"]] == ref.top_customers(limit=5)
    assert all(c["email"] == ref.customers[c["id"]]["email"] for c in got["customers"])


async def test_customer_orders_list_what_was_bought(case: tuple[Run, ShopConfig], call: Any) -> None:
    run, shop = case
    ref = run.reference
    invoices = Counter(i["customer"] for i in run.records["invoices"])
    customer = max((c for c in invoices if invoices[c] <= 6), key=lambda c: (invoices[c], c))  # fits one answer
    got = ok(await call("customer_orders", {"customer_id": customer}, shop))
    assert got["orders_total"] == invoices[customer] and "truncated" not in got
    paid = {o["invoice_id"]: o for o in got["orders"] if o["status"] == "paid"}
    mine = [o for o in ref.invoices if o.customer == customer]
    assert set(paid) == {o.id for o in mine}
    for order in mine:
        assert paid[order.id]["items"] == [ref.item(li, order.currency) for li in order.lines]


async def test_answers_do_not_depend_on_where_chunks_are_stored(chosen_run: Run, database: Database, call: Any) -> None:
    """Airbyte keeps no order of a record's chunks, and Postgres stores rows in any page with room:
    the same chunks stored in reverse give the same answers, lines only in the text included."""
    schema, name = chosen_run.tables["invoices"].split(".")
    reversed_ = sql.Identifier(schema, name + "_reversed")
    await database.execute(sql.SQL("drop table if exists {}").format(reversed_))
    await database.execute(
        sql.SQL("create table {} as select * from {} order by ctid desc").format(
            reversed_, sql.Identifier(schema, name)
        )
    )
    row = await database.fetch_one(
        sql.SQL(
            "select count(*) as n from (select document_id, (array_agg(document_content order by ctid))[1] as c"
            " from {} group by document_id having count(*) > 1) x where c not like 'number: %'"
        ).format(reversed_)
    )
    assert row and row["n"] > 0, "records whose chunks are stored out of order"
    shop = chosen_run.shop("tutorial")
    shop = shop.model_copy(update={"airbyte_tables": {**shop.airbyte_tables, "invoices": f"{schema}.{name}_reversed"}})
    ref = chosen_run.reference
    got = await insight(call, shop, question="second_product", basis="order", limit=5)
    assert (got["groups_counted"], [(p["id"], p["count"]) for p in got["second_products"]]) == ref.second_product(
        "order", limit=5
    )
    got = await insight(call, shop, question="best_sellers", limit=10)
    assert got["products"] == ref.best_sellers(limit=10)
    got = await insight(call, shop, question="largest_purchase", currency="usd")
    assert got["orders"] == [ref.extreme("largest", "usd")]


async def test_products_and_prices(default_run: Run, chosen_run: Run, call: Any) -> None:
    for run in (default_run, chosen_run):
        product = run.records["products"][3]
        native = ok(await call("get_product", {"product_id": product["id"]}, run.shop("native")))
        assert native["name"] == product["name"] and native["category"] == product["metadata"]["category"]
        prices = sorted(
            (p["currency"], p["unit_amount"]) for p in run.records["prices"] if p["product"] == product["id"]
        )
        assert len(native["prices"]) == len(prices) > 0
        tutorial = ok(await call("get_product", {"product_id": product["id"]}, run.shop("tutorial")))
        assert tutorial["name"] == product["name"] and not tutorial.get("prices")  # no prices stream


# -- what is missing is said, not answered with empty lists --------------------------------------


async def test_no_lines_anywhere_is_said(lacking_run: Run, call: Any) -> None:
    shop = lacking_run.shop("tutorial")
    for args in ({"question": "best_sellers"}, {"question": "bought_together"}, {"question": "second_product"}):
        outcome = await call("shop_insights", args, shop)
        assert not outcome.ok and "no invoice lines" in outcome.output and "lines.data" in outcome.output, args
    got = await insight(call, shop, question="cheapest_purchase")
    assert "items" not in got["orders"][0] and "no invoice lines" in got["orders"][0]["items_unknown"]
    assert got["orders"][0]["invoice_id"] == lacking_run.reference.extreme("cheapest")["invoice_id"]


async def test_lines_without_products_are_said(lacking_run: Run, call: Any) -> None:
    shop = lacking_run.shop("native")
    outcome = await call("shop_insights", {"question": "best_sellers"}, shop)
    assert not outcome.ok and "no product" in outcome.output and "price.product" in outcome.output
    got = await insight(call, shop, question="largest_purchase")
    items = got["orders"][0]["items"]
    assert items and all(i["product_id"] is None and i["name"] for i in items)


# -- search ---------------------------------------------------------------------------------------


async def test_search_with_the_tenants_embedder(lacking_run: Run, simulator: Any, call: Any) -> None:
    env = {"AB_KEY": "sk-test", "OPENAI_BASE_URL": simulator.base_url}
    shop = lacking_run.shop("native", embedder="openai:text-embedding-3-small")
    for product in [p for p in lacking_run.records["products"] if p["active"]][:5]:
        got = ok(await call("search_products", {"query": product["name"]}, shop, env=env))
        assert got["products"][0]["id"] == product["id"], product["name"]
    active = {p["id"]: p["name"] for p in lacking_run.records["products"] if p["active"]}
    price = next(
        p for p in lacking_run.records["prices"] if p["currency"] == "eur" and p["active"] and p["product"] in active
    )
    name = active[price["product"]]
    euros = price["unit_amount"] / 100
    within = ok(await call("search_products", {"query": name, "currency": "eur", "max_price": euros}, shop, env=env))
    assert price["product"] in [p["id"] for p in within["products"]]
    assert all(float(p.split()[0]) <= euros for c in within["products"] for p in c["prices"])
    below = {"query": name, "currency": "eur", "max_price": euros - 0.01}
    assert price["product"] not in [
        p["id"] for p in ok(await call("search_products", below, shop, env=env))["products"]
    ]


async def test_mismatched_dimensions_are_refused(lacking_run: Run, call: Any) -> None:
    outcome = await call("search_products", {"query": "mug"}, lacking_run.shop("native", embedder="offline"))
    assert not outcome.ok and "1536-dimensional" in outcome.output and "256-dimensional" in outcome.output
    missing = ShopConfig(source="airbyte", airbyte_tables={"products": "no_such_table"})
    outcome = await call("search_products", {"query": "mug"}, missing)
    assert not outcome.ok and "does not exist" in outcome.output


async def test_a_full_refresh_gets_its_indexes_back(lacking_run: Run, database: Database, call: Any) -> None:
    shop = lacking_run.shop("native", embedder="offline:1536")
    schema, table = shop.airbyte_tables["products"].split(".")

    async def hnsw() -> list[str]:
        rows = await database.fetch_all(
            "select indexdef from pg_indexes where schemaname = %s and tablename = %s", (schema, table)
        )
        return [r["indexdef"] for r in rows if "hnsw" in r["indexdef"]]

    ok(await call("search_products", {"query": "espresso machine"}, shop))
    assert await hnsw()
    old, new = sql.Identifier(schema, table), sql.Identifier(schema, table + "_new")
    await database.execute(sql.SQL("create table {} as table {}").format(new, old))
    await database.execute(sql.SQL("drop table {}").format(old))
    await database.execute(sql.SQL("alter table {} rename to {}").format(new, sql.Identifier(table)))
    assert not await hnsw()
    assert ok(await call("search_products", {"query": "espresso machine"}, shop))["products"]
    assert await hnsw()


async def test_policy_applies_to_airbyte_data(default_run: Run, call: Any) -> None:
    shop = default_run.shop("tutorial")
    me = default_run.records["customers"][0]
    visitor = Visitor("user:x", "identified", "x", me["email"])
    mine = ok(await call("customer_orders", {}, shop, visitor=visitor))
    assert mine["customer_ids"] == [me["id"]]
    other = default_run.records["customers"][1]["id"]
    assert not (await call("customer_orders", {"customer_id": other}, shop, visitor=visitor)).ok
    assert not (await call("find_customer", {"email": me["email"]}, shop, visitor=Visitor())).ok


# -- python -m proxy sync airbyte ------------------------------------------------------------------


def sync_airbyte(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, pg_url: str, shop: ShopConfig) -> int:
    import argparse

    from proxy.shop.cli import register_cli

    tables = ", ".join(f'{s} = "{t}"' for s, t in shop.airbyte_tables.items())
    (tmp_path / "tenants.toml").write_text(
        f'[tenants.ab]\ndomains = ["ab.example"]\napi_key_env = "AB_KEY"\n'
        f'shop = {{ source = "airbyte", embedder = "{shop.embedder}", airbyte_tables = {{ {tables} }} }}\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROXY_TENANTS_FILE", str(tmp_path / "tenants.toml"))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("AB_KEY", "sk-test")
    parser = argparse.ArgumentParser(prog="proxy")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sync", "airbyte", "--tenant", "ab"])
    return int(args.handler(args))


def test_sync_airbyte_says_what_each_tool_can_answer(
    default_run: Run, lacking_run: Run, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, pg_url: str, capsys: Any
) -> None:
    assert sync_airbyte(tmp_path, monkeypatch, pg_url, default_run.shop("tutorial")) == 0
    out = capsys.readouterr().out
    lines = sum(len(i["lines"]["data"]) for i in default_run.records["invoices"])
    assert f"invoice lines: {lines} (from invoices.lines.data (metadata)), {lines} with a product" in out
    assert "yes shop_insights best_sellers" in out and "no  prices and price filters" in out
    assert "invoice_line_items  (not configured)" in out

    assert sync_airbyte(tmp_path, monkeypatch, pg_url, lacking_run.shop("tutorial")) == 0
    out = capsys.readouterr().out
    assert "invoice lines: 0" in out
    assert "no  the items of an order: the Airbyte tables hold no invoice lines" in out
    assert "no  shop_insights best_sellers, bought_together, second_product: the Airbyte tables hold no" in out

    assert sync_airbyte(tmp_path, monkeypatch, pg_url, lacking_run.shop("native")) == 0
    out = capsys.readouterr().out
    assert "yes the items of an order" in out and "have no product: neither pricing.price_details.product" in out

    broken = lacking_run.shop("native", embedder="offline")
    broken = broken.model_copy(update={"airbyte_tables": {**broken.airbyte_tables, "prices": "ab_lacking.nothing"}})
    assert sync_airbyte(tmp_path, monkeypatch, pg_url, broken) == 1
    assert "ab_lacking.nothing" in (out := capsys.readouterr().out) and "does not exist" in out
