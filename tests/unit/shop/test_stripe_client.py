"""Stripe client edge cases (respx) and the mapping of Stripe objects to rows."""

from __future__ import annotations

import httpx
import pytest
import respx

from proxy.shop.stripe_client import StripeAuthError, StripeClient, StripeError
from proxy.shop.stripe_objects import line_price_and_product, line_rows, price_row

BASE = "https://stripe.test"


def client(delays: list[float], **kwargs: object) -> StripeClient:
    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    return StripeClient("rk_test_abcdefghijklmnop", base_url=BASE, sleep=sleep, **kwargs)  # type: ignore[arg-type]


@respx.mock
async def test_pages_follow_starting_after_until_has_more_is_false() -> None:
    route = respx.get(f"{BASE}/v1/events").mock(
        side_effect=[
            httpx.Response(200, json={"object": "list", "has_more": True, "data": [{"id": "evt_3"}, {"id": "evt_2"}]}),
            httpx.Response(200, json={"object": "list", "has_more": False, "data": [{"id": "evt_1"}]}),
        ]
    )
    pages = [
        page
        async for page in client([]).pages("/v1/events", {"types[]": ["a.b", "c.d"], "created[gte]": 5}, page_size=2)
    ]
    assert [[e["id"] for e in p] for p in pages] == [["evt_3", "evt_2"], ["evt_1"]]
    first, second = (call.request.url for call in route.calls)
    assert first.params.get_list("types[]") == ["a.b", "c.d"] and first.params["created[gte]"] == "5"
    assert second.params["starting_after"] == "evt_2" and second.params["limit"] == "2"


@respx.mock
async def test_network_errors_and_overload_are_retried_then_reported() -> None:
    respx.get(f"{BASE}/v1/customers").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(409, json={"error": {"message": "lock timeout"}}),
            httpx.Response(200, json={"data": [], "has_more": False}),
        ]
    )
    delays: list[float] = []
    stripe = client(delays)
    assert (await stripe.get("/v1/customers"))["data"] == []
    assert stripe.retries == 2 and len(delays) == 2 and delays[1] <= 1.0  # exponential, jittered, from 0.5 s

    respx.get(f"{BASE}/v1/prices").mock(return_value=httpx.Response(503, text="down"))
    with pytest.raises(StripeError, match="503"):
        await client([], max_retries=2).get("/v1/prices")


@respx.mock
async def test_permission_errors_name_the_missing_permission() -> None:
    respx.get(f"{BASE}/v1/invoices").mock(
        return_value=httpx.Response(
            403,
            json={
                "error": {
                    "type": "invalid_request_error",
                    "message": "Having the 'rak_invoice_read' permission would allow this",
                }
            },
        )
    )
    with pytest.raises(StripeAuthError, match="rak_invoice_read") as caught:
        await client([]).get("/v1/invoices")
    assert caught.value.stripe_status == 403 and "rk_test_abcdefghijklmnop" not in str(caught.value)


def test_line_shapes() -> None:
    old = {
        "id": "il_1",
        "price": {"id": "price_1", "product": "prod_1"},
        "quantity": 2,
        "amount": 500,
        "currency": "EUR",
    }
    new = {
        "id": "il_2",
        "pricing": {"type": "price_details", "price_details": {"price": "price_2", "product": "prod_2"}},
        "quantity": None,
        "amount": 300,
    }
    expanded = {"id": "il_3", "price": {"id": "price_3", "product": {"id": "prod_3", "name": "x"}}}
    plan = {"id": "il_4", "plan": {"id": "plan_4", "product": "prod_4"}}
    assert [line_price_and_product(li) for li in (old, new, expanded, plan)] == [
        ("price_1", "prod_1"),
        ("price_2", "prod_2"),
        ("price_3", "prod_3"),
        ("plan_4", "prod_4"),
    ]
    rows = line_rows("t", {"id": "in_1", "currency": "usd"}, [old, new])
    assert [(r[3], r[4], r[7], r[8], r[9]) for r in rows] == [
        (0, "prod_1", 2, 500, "eur"),
        (1, "prod_2", 1, 300, "usd"),
    ]


def test_price_rows_read_decimal_amounts_and_intervals() -> None:
    row = price_row(
        "t",
        {
            "id": "price_1",
            "product": {"id": "prod_1"},
            "currency": "EUR",
            "unit_amount": None,
            "unit_amount_decimal": "1250.4",
            "recurring": {"interval": "month"},
            "created": 0,
        },
    )
    assert row[2:6] == ("prod_1", "eur", 1250, "month")
