"""The Stripe sync against a real local HTTP server speaking Stripe's list format."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxy.shop.config import ShopConfig
from proxy.shop.demo_data import DemoSize
from proxy.shop.embedders import OfflineEmbedder
from proxy.shop.stripe_client import StripeAuthError, StripeClient, StripeError
from proxy.shop.stripe_sync import sync_stripe
from proxy.simulator import ServerThread
from proxy.store.db import Database
from tests.support.stripe_fake import FakeStripe

pytestmark = pytest.mark.integration
KEY = "rk_test_fake_key_for_sync_tests"
SIZE = DemoSize(products=24, customers=60, invoices=250)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    account = FakeStripe(KEY)
    account.load_demo(size=SIZE)
    with ServerThread(account) as server:
        account.url = server.url  # type: ignore[attr-defined]
        yield account


def shop(fake: FakeStripe, version: str | None = None) -> ShopConfig:
    return ShopConfig(source="stripe", stripe_key_env="UNUSED", stripe_api_base=fake.url, stripe_api_version=version)  # type: ignore[attr-defined]


async def run(
    db: Database,
    tenant: str,
    fake: FakeStripe,
    *,
    key: str = KEY,
    full: bool = False,
    version: str | None = None,
    delays: list[float] | None = None,
):  # type: ignore[no-untyped-def]
    async def sleep(seconds: float) -> None:
        if delays is not None:
            delays.append(seconds)

    client = StripeClient(key, base_url=fake.url, api_version=version, sleep=sleep)  # type: ignore[attr-defined]
    try:
        return await sync_stripe(
            db, tenant, shop(fake, version), api_key=key, embedder=OfflineEmbedder(), full=full, client=client
        )
    finally:
        await client.aclose()


async def count(db: Database, table: str, tenant: str, where: str = "true") -> int:
    row = await db.fetch_one(f"select count(*) as n from {table} where tenant = %s and {where}", (tenant,))
    return int(row["n"])


async def test_full_sync_paginates_and_incremental_sync_fetches_only_changes(
    fake: FakeStripe, database: Database
) -> None:
    tenant = "stripe-incremental"
    customer = next(iter(fake.objects["customers"]))
    prices = list(fake.objects["prices"])
    big = fake.add_invoice(
        customer, [(p, 1) for p in prices[:13]], event=False
    )  # more lines than an invoice carries inline

    first = await run(database, tenant, fake)
    assert first.mode == "full"
    for name, table in [
        ("customers", "shop_customers"),
        ("products", "shop_products"),
        ("prices", "shop_prices"),
        ("invoices", "shop_invoices"),
    ]:
        assert first.objects[name].inserted == len(fake.objects[name]) == await count(database, table, tenant)
    assert await count(database, "shop_invoice_lines", tenant) == sum(len(v) for v in fake.lines.values())
    assert await count(database, "shop_invoice_lines", tenant, f"invoice_id = '{big['id']}'") == 13
    invoice_pages = [q for p, q in fake.requests if p == "/v1/invoices"]
    assert len(invoice_pages) == 3 and "starting_after" in invoice_pages[1]  # 251 invoices, 100 a page
    assert any(p == f"/v1/invoices/{big['id']}/lines" for p, _ in fake.requests)
    assert first.documents is not None and first.documents.embedded == 24 + 60 + 251

    fake.requests.clear()
    idle = await run(database, tenant, fake)
    assert idle.mode == "incremental" and idle.events == 0
    assert all(c.changed == 0 for c in idle.objects.values()) and idle.documents.embedded == 0  # type: ignore[union-attr]
    assert all("created[gte]" in q for p, q in fake.requests if p in ("/v1/customers", "/v1/invoices"))

    old_customer = list(fake.objects["customers"])[5]
    fake.update("customers", old_customer, email="new.address@example.com")
    newcomer = fake.add("customers", {"email": "first.time@example.com", "name": "First Time"})
    open_invoice = next(i for i in fake.objects["invoices"].values() if i["status"] == "open")
    fake.update("invoices", open_invoice["id"], status="paid")
    fake.add_invoice(newcomer["id"], [(prices[0], 2)])
    gone = list(fake.objects["products"])[3]
    fake.delete("products", gone)

    second = await run(database, tenant, fake)
    assert second.mode == "incremental" and second.events == 5
    assert second.objects["customers"].changed == 2 and second.objects["invoices"].changed == 2
    row = await database.fetch_one(
        "select email from shop_customers where tenant = %s and id = %s", (tenant, old_customer)
    )
    assert row["email"] == "new.address@example.com"
    row = await database.fetch_one(
        "select status from shop_invoices where tenant = %s and id = %s", (tenant, open_invoice["id"])
    )
    assert row["status"] == "paid"
    row = await database.fetch_one("select deleted from shop_products where tenant = %s and id = %s", (tenant, gone))
    assert row["deleted"] is True
    assert await count(database, "shop_customers", tenant) == len(fake.objects["customers"])
    assert second.documents is not None and 0 < second.documents.embedded < 20


@pytest.mark.parametrize("version", [None, "2025-03-31.basil"])
async def test_both_invoice_line_shapes(version: str | None, fake: FakeStripe, database: Database) -> None:
    tenant = f"stripe-shape-{version or 'account-default'}"
    await run(database, tenant, fake, version=version)
    sample = next(p for p, _ in fake.requests if p == "/v1/invoices")
    assert sample
    expected = {
        line["id"]: fake.objects["prices"][line["price"]]["product"] for lines in fake.lines.values() for line in lines
    }
    rows = await database.fetch_all(
        "select id, product_id, price_id from shop_invoice_lines where tenant = %s", (tenant,)
    )
    assert {r["id"]: r["product_id"] for r in rows} == expected
    assert all(r["price_id"] for r in rows)


async def test_rate_limits_and_should_retry_are_retried_with_backoff(fake: FakeStripe, database: Database) -> None:
    fake.fail_next(2, 429, path="/v1/customers")
    fake.fail_next(1, 500, should_retry=True, path="/v1/invoices")
    fake.fail_next(1, 429, retry_after=3, path="/v1/prices")
    delays: list[float] = []
    summary = await run(database, "stripe-retry", fake, delays=delays)
    assert summary.retries == 4 and len(delays) == 4
    assert 3.0 in delays  # Retry-After is honoured
    assert await count(database, "shop_customers", "stripe-retry") == len(fake.objects["customers"])


async def test_should_retry_false_is_not_retried(fake: FakeStripe, database: Database) -> None:
    fake.fail_next(1, 503, should_retry=False, path="/v1/products")
    with pytest.raises(StripeError, match="503"):
        await run(database, "stripe-no-retry", fake, delays=[])


async def test_a_bad_key_gets_a_clear_error_and_changes_nothing(fake: FakeStripe, database: Database) -> None:
    with pytest.raises(StripeAuthError) as caught:
        await run(database, "stripe-bad-key", fake, key="rk_test_wrong_key_000000")
    message = str(caught.value)
    assert "401" in message and "Invalid API Key" in message and "restricted key" in message
    assert "rk_test_wrong_key_000000" not in message  # the key is redacted
    assert await count(database, "shop_sync_state", "stripe-bad-key") == 0


async def test_a_key_without_events_permission_still_syncs(fake: FakeStripe, database: Database) -> None:
    fake.forbidden.add("events")
    summary = await run(database, "stripe-no-events", fake)
    assert any("cannot read events" in w for w in summary.warnings)
    assert await count(database, "shop_invoices", "stripe-no-events") == len(fake.objects["invoices"])
    again = await run(database, "stripe-no-events", fake)
    assert again.mode == "incremental"


async def test_synced_data_serves_the_tools(fake: FakeStripe, database: Database, call, ok, staff) -> None:
    tenant = "stripe-tools"
    await run(database, tenant, fake)
    found = ok(await call("search_products", {"query": "espresso machine"}, tenant=tenant))
    assert "Espresso Machine" in found["products"][0]["name"]
    best = ok(await call("shop_insights", {"question": "best_sellers"}, tenant=tenant, visitor=staff))
    assert best["products"]
