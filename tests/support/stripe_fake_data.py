"""Object rendering and demo content for the fake Stripe account (:mod:`tests.support.stripe_fake`)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proxy.shop.demo_data import DemoSize
    from tests.support.stripe_fake import FakeStripe

PREFIX = {"customers": "cus", "products": "prod", "prices": "price", "invoices": "in", "events": "evt"}
INVOICE_LINES_INLINE = 10  # like Stripe: an invoice carries its first lines, the rest are paginated


def render_lines(
    invoice: dict[str, Any], lines: list[dict[str, Any]], prices: dict[str, dict[str, Any]], *, new_shape: bool
) -> list[dict[str, Any]]:
    """Lines as Stripe sends them: ``price`` before 2025-03-31, ``pricing.price_details`` since."""
    out = []
    for line in lines:
        price = prices.get(line["price"]) or {"id": line["price"], "product": None, "unit_amount": None}
        item: dict[str, Any] = {
            "id": line["id"],
            "object": "line_item",
            "invoice": invoice["id"],
            "amount": line["amount"],
            "currency": line["currency"],
            "quantity": line["quantity"],
            "description": line.get("description") or f"{line['quantity']} x {price['product']}",
        }
        if new_shape:
            item["pricing"] = {
                "type": "price_details",
                "price_details": {"price": price["id"], "product": price["product"]},
                "unit_amount_decimal": None if price.get("unit_amount") is None else str(price["unit_amount"]),
            }
        else:
            item["price"] = dict(price)
            item["type"] = "invoiceitem"
        out.append(item)
    return out


def invoice_json(invoice: dict[str, Any], rendered_lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **invoice,
        "lines": {
            "object": "list",
            "url": f"/v1/invoices/{invoice['id']}/lines",
            "total_count": len(rendered_lines),
            "has_more": len(rendered_lines) > INVOICE_LINES_INLINE,
            "data": rendered_lines[:INVOICE_LINES_INLINE],
        },
    }


def load_demo(fake: FakeStripe, *, size: DemoSize | None = None, seed: int | None = None) -> None:
    """Fill the account with the demo shop (no events: it is history, not news)."""
    from proxy.shop.demo_data import DEMO_SEED, SMALL, generate

    shop = generate("fake", size or SMALL, DEMO_SEED if seed is None else seed)
    for _, pid, name, desc, active, default_price, meta, created, _, _ in shop.products:
        fake.add(
            "products",
            {
                "id": pid,
                "name": name,
                "description": desc,
                "active": active,
                "default_price": default_price,
                "metadata": meta,
                "created": int(created.timestamp()),
            },
            event=False,
        )
    for _, pid, product, currency, amount, _, active, nickname, created, _ in shop.prices:
        fake.add(
            "prices",
            {
                "id": pid,
                "product": product,
                "currency": currency,
                "unit_amount": amount,
                "active": active,
                "nickname": nickname,
                "type": "one_time",
                "recurring": None,
                "created": int(created.timestamp()),
            },
            event=False,
        )
    for _, cid, email, name, phone, created, meta, _, _ in shop.customers:
        fake.add(
            "customers",
            {
                "id": cid,
                "email": email,
                "name": name,
                "phone": phone,
                "metadata": meta,
                "created": int(created.timestamp()),
            },
            event=False,
        )
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, iid, lid, _, _, price, desc, qty, amount, currency in shop.lines:
        lines[iid].append(
            {"id": lid, "price": price, "quantity": qty, "amount": amount, "currency": currency, "description": desc}
        )
    for _, iid, number, customer, email, name, currency, status, total, created, _ in shop.invoices:
        fake.add(
            "invoices",
            {
                "id": iid,
                "number": number,
                "customer": customer,
                "customer_email": email,
                "customer_name": name,
                "currency": currency,
                "status": status,
                "total": total,
                "created": int(created.timestamp()),
            },
            event=False,
        )
        fake.lines[iid] = lines[iid]
