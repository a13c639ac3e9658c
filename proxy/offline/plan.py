"""A plan: what the offline model does with a message (call tools, or answer in words), and what
its reply needs to know of how it got there. :mod:`proxy.offline.planner` makes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from proxy.offline.conversation import Call
from proxy.offline.periods import Period
from proxy.offline.slots import Slots

Kind = Literal["calls", "talk", "ask_contact", "unknown"]
PriceLimit = tuple[float | None, float | None, str]
"""A search's price limit as given: (min_price, max_price, currency)."""


@dataclass(frozen=True, slots=True)
class Plan:
    kind: Kind
    intent: str
    """A tool name, a small-talk kind (greeting, thanks, goodbye, capabilities) or "unknown"."""
    slots: Slots
    calls: tuple[Call, ...] = ()
    followup: bool = False
    probe: bool = False
    """The search was tried because nothing else fitted: its answer says so when it finds nothing."""
    wants_orders: bool = False
    together_with: str = ""
    """bought_together / second_product for a product named in words: search for it first."""
    context: str = ""
    """For a follow-up: the message it follows ("where is my last order?" before "what's in it?")."""
    shop_wide: bool = False
    """The cheapest (or dearest) products of the whole shop: asked for with no kind of product named
    (:func:`proxy.offline.arguments.shop_wide_arguments`)."""
    edge: str = ""
    """``priciest`` or ``cheapest``: the end of a price range over every kind of product, found by
    narrowing searches (:mod:`proxy.offline.price_edges`)."""
    unconverted: PriceLimit | None = None
    """ "in dollars?" after a search within a limit in another currency: the products shown, in the
    currency asked, and the limit as it was given (prices are set per currency, never converted)."""
    shown_in: str = ""
    """ "the most expensive?" after products shown again in another currency (:attr:`unconverted`):
    the pick is among those products, in that currency."""
    period: Period | None = None
    """The period the answer is about when the message names none: a follow-up's, taken from the
    question it follows ("and the cheapest one?" after "what did I buy in March?")."""

    @property
    def when(self) -> Period | None:
        return self.slots.period or self.period
