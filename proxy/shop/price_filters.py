"""The price and currency filters of a product search, as SQL over ``products p`` / ``prices pr``.

Amounts are compared in the currency's minor units, as stored, so the amount index serves them;
without a currency, in major units (zero-decimal currencies store whole units, the rest cents).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from psycopg import sql

from proxy.shop.money import ZERO_DECIMAL, exponent, fmt, to_minor


@dataclass(frozen=True, slots=True)
class Filters:
    currency: str | None = None  # lower case, as stored
    min_price: float | None = None  # major units
    max_price: float | None = None

    def given(self) -> dict[str, Any]:
        """The filters that were given, as the tool reports them."""
        out: dict[str, Any] = {}
        if self.currency:
            out["currency"] = self.currency.upper()
        for key in ("min_price", "max_price"):
            value = getattr(self, key)
            if value is not None:
                out[key] = int(value) if float(value).is_integer() else value
        return out

    def minor(self, value: float | None, rounding: str) -> int | None:
        """A bound in the currency's minor units, rounded inwards (``ROUND_CEILING`` for a lower one)."""
        if value is None or not self.currency:
            return None
        return _whole(Decimal(str(value)).scaleb(exponent(self.currency)), rounding)

    def _amount(self, value: float) -> str:
        if self.currency:
            return fmt(to_minor(value, self.currency), self.currency) or str(value)
        return f"{Decimal(str(value)):.2f}"

    def phrase(self) -> str:
        """ " at or under 100.00 USD", " between 50.00 and 80.00 EUR", " in USD" or ""."""
        lo, hi = self.min_price, self.max_price
        if lo is not None and hi is not None:
            return f" between {self._amount(lo).split()[0]} and {self._amount(hi)}"
        if hi is not None:
            return f" at or under {self._amount(hi)}"
        if lo is not None:
            return f" at or above {self._amount(lo)}"
        return f" in {self.currency.upper()}" if self.currency else ""


def price_conditions(f: Filters) -> list[sql.Composable]:
    """Conditions on a price ``pr`` in the filters' currency and range. With a currency the bounds
    are compared in its minor units, as stored, so that an index on the amounts serves them."""
    cond: list[sql.Composable] = []
    if f.currency:
        cond.append(sql.SQL("pr.currency = %(currency)s"))
    for key, op in (("min_price", ">="), ("max_price", "<=")):
        if getattr(f, key) is None:
            continue
        if f.currency:
            cond.append(sql.SQL("pr.unit_amount {} {}").format(sql.SQL(op), sql.Placeholder(key[:3] + "_minor")))
        else:  # the exact test in major units, and a looser one on the stored amount that an index serves
            cond.append(sql.SQL("{} {} {}").format(MAJOR_AMOUNT, sql.SQL(op), sql.Placeholder(key)))
            cond.append(sql.SQL("pr.unit_amount {} {}").format(sql.SQL(op), sql.Placeholder(key[:3] + "_any")))
    return cond


def product_filter(
    alias: str,
    f: Filters,
    column: str = "id",
    *,
    per_row: bool = False,
    prices_per_row: bool | None = None,
    native: bool = False,
) -> sql.Composable:
    """Active products with (if asked) an active price in the currency and range; ``alias.column``
    is the product id. The price test is a semi-join, so Postgres may start from the prices when
    few are in range. ``per_row`` (and ``prices_per_row`` for the price test alone) looks each
    row's product and prices up instead: a scalar subquery is never turned into a join, and for
    a few hundred known rows the lookups cost less than a hash of every price in range.

    ``native``: the ids are our own tables' documents, each of a product row (products are
    marked deleted, never removed): the product is active unless it is among the shop's inactive
    ones, a lookup in a small index (a few of them, when most products are for sale) instead of
    one in the index of every product (6 against under 1 microsecond, a few hundred per search)."""
    ident = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(column))
    if native:
        active = "(select x.id from inactive_products x where x.id = {}) is null"
    elif per_row:
        active = "(select p.active from products p where p.id = {})"
    else:
        active = "exists (select 1 from products p where p.id = {} and p.active)"
    parts: list[sql.Composable] = [sql.SQL(active).format(ident)]
    if cond := price_conditions(f):
        test = (
            "(select true from prices pr where pr.product_id = {} and {} limit 1)"
            if (per_row if prices_per_row is None else prices_per_row)
            else "{} in (select pr.product_id from prices pr where {})"
        )
        price = sql.SQL(" and ").join([sql.SQL("pr.active and pr.unit_amount is not null"), *cond])
        if per_row and (prices_per_row is None or prices_per_row):
            # the price test first, and the product looked up only for the rows in range: Postgres
            # orders the conditions of an AND by their estimated cost, a CASE keeps this order
            return sql.SQL("case when {} then {} else false end").format(sql.SQL(test).format(ident, price), parts[0])
        parts.insert(0, sql.SQL(test).format(ident, price))
    return sql.SQL(" and ").join(parts)


MAJOR_AMOUNT = sql.SQL("pr.unit_amount::numeric / (case when pr.currency = any(%(zd)s) then 1 else 100 end)")


def _whole(value: Decimal, rounding: str) -> int:
    return int(value.to_integral_value(rounding))


def filter_params(f: Filters, **extra: Any) -> dict[str, Any]:
    return {
        "currency": f.currency,
        "min_price": f.min_price,
        "max_price": f.max_price,
        "min_minor": f.minor(f.min_price, ROUND_CEILING),
        "max_minor": f.minor(f.max_price, ROUND_FLOOR),
        # without a currency: amounts of zero-decimal currencies are major units, of the rest cents
        "min_any": None if f.min_price is None else _whole(Decimal(str(f.min_price)), ROUND_CEILING),
        "max_any": None if f.max_price is None else _whole(Decimal(str(f.max_price)) * 100, ROUND_FLOOR),
        "zd": sorted(ZERO_DECIMAL),
        **extra,
    }
