"""Amounts in minor units (as Stripe sends them) to and from what people read."""

from __future__ import annotations

from decimal import Decimal

# Stripe's zero-decimal currencies: their amounts are already whole units.
ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)


def exponent(currency: str) -> int:
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def fmt(amount: int | None, currency: str | None) -> str | None:
    """``4990, "eur"`` -> ``"49.90 EUR"``."""
    if amount is None or currency is None:
        return None
    exp = exponent(currency)
    value = Decimal(int(amount)).scaleb(-exp)
    return f"{value:.{exp}f} {currency.upper()}"


def to_minor(value: float | int | str, currency: str) -> int:
    """``49.9, "eur"`` -> ``4990`` (rounded half up)."""
    scaled = Decimal(str(value)).scaleb(exponent(currency))
    return int(scaled.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
