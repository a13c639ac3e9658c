"""Stripe objects -> rows of our tables. Handles both invoice-line shapes: the older one with
``price`` (an id or an expanded price) and, since API version 2025-03-31,
``pricing.price_details.{price, product}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _id(value: Any) -> str | None:
    """A reference is an id, or an expanded object carrying one."""
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def customer_row(tenant: str, obj: dict[str, Any]) -> tuple[Any, ...]:
    return (
        tenant,
        obj["id"],
        obj.get("email"),
        obj.get("name"),
        obj.get("phone"),
        _ts(obj.get("created")),
        _meta(obj),
        bool(obj.get("deleted")),
        obj,
    )


def product_row(tenant: str, obj: dict[str, Any]) -> tuple[Any, ...]:
    return (
        tenant,
        obj["id"],
        obj.get("name") or obj["id"],
        obj.get("description"),
        bool(obj.get("active", True)),
        _id(obj.get("default_price")),
        _meta(obj),
        _ts(obj.get("created")),
        bool(obj.get("deleted")),
        obj,
    )


def _unit_amount(obj: dict[str, Any]) -> int | None:
    if isinstance(obj.get("unit_amount"), int):
        return int(obj["unit_amount"])
    decimal = obj.get("unit_amount_decimal")
    return round(float(decimal)) if decimal not in (None, "") else None


def price_row(tenant: str, obj: dict[str, Any]) -> tuple[Any, ...]:
    recurring = obj.get("recurring")
    interval = recurring.get("interval") if isinstance(recurring, dict) else None
    return (
        tenant,
        obj["id"],
        _id(obj.get("product")),
        (obj.get("currency") or "").lower(),
        _unit_amount(obj),
        interval,
        bool(obj.get("active", True)),
        obj.get("nickname"),
        _ts(obj.get("created")),
        obj,
    )


def invoice_row(tenant: str, obj: dict[str, Any]) -> tuple[Any, ...]:
    raw = {k: v for k, v in obj.items() if k != "lines"}  # lines live in their own table
    total = obj.get("total")
    return (
        tenant,
        obj["id"],
        obj.get("number"),
        _id(obj.get("customer")),
        obj.get("customer_email"),
        obj.get("customer_name"),
        (obj.get("currency") or "").lower(),
        obj.get("status"),
        int(total) if isinstance(total, int) else 0,
        _ts(obj.get("created")),
        raw,
    )


def line_price_and_product(line: dict[str, Any]) -> tuple[str | None, str | None]:
    """(price id, product id) of an invoice line, in either API shape."""
    pricing = line.get("pricing")
    if isinstance(pricing, dict) and isinstance(pricing.get("price_details"), dict):
        details = pricing["price_details"]
        return _id(details.get("price")), _id(details.get("product"))
    price = line.get("price")
    if isinstance(price, dict):
        return price.get("id"), _id(price.get("product"))
    plan = line.get("plan")  # the oldest shape: subscription lines with a plan
    if isinstance(plan, dict):
        return _id(price) or plan.get("id"), _id(plan.get("product"))
    return _id(price), None


def line_rows(tenant: str, invoice: dict[str, Any], lines: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for position, line in enumerate(lines):
        price_id, product_id = line_price_and_product(line)
        quantity = line.get("quantity")
        rows.append(
            (
                tenant,
                invoice["id"],
                line.get("id") or f"{invoice['id']}:{position}",
                position,
                product_id,
                price_id,
                line.get("description"),
                int(quantity) if isinstance(quantity, int) else 1,
                int(line.get("amount") or 0),
                (line.get("currency") or invoice.get("currency") or "").lower(),
            )
        )
    return rows
