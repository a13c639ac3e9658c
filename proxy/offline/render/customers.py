"""Customer records (find_customer) and order histories (customer_orders)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from proxy.offline.conversation import Result
from proxy.offline.plan import Plan
from proxy.offline.render.common import MAX_ITEMS, bullets, count, join, text
from proxy.offline.render.order_sums import one_total, pick_answer, tally_answer
from proxy.offline.words import content_words, tokens, word_in

_LATEST = re.compile(r"\b(?:last|latest|recent|newest|most recent|current)\b|\bwhere is my\b|\bstatus\b", re.I)
_ORDERS_WORD = re.compile(r"\borders\b", re.I)


def _about_one_order(text: str) -> bool:
    """Whether a question asked about one order, the latest ("where is my last order?"), not a list."""
    return _LATEST.search(text) is not None and _ORDERS_WORD.search(text) is None


def _own(result: Result) -> bool:
    args = result.call.arguments
    return not any(args.get(k) for k in ("customer_id", "email", "name"))


def _asked(result: Result) -> str:
    args = result.call.arguments
    if args.get("name"):
        return f"named {args['name']}"
    if args.get("email"):
        return f"with the email {args['email']}"
    if args.get("customer_id"):
        return f"with the id {args['customer_id']}"
    return ""


def customer_line(c: Mapping[str, Any]) -> str:
    head = f"{text(c.get('name')) or 'A customer without a name'} ({text(c.get('id'))}"
    head += f", {c['email']})" if c.get("email") else ")"
    facts = []
    if c.get("customer_since"):
        facts.append(f"customer since {c['customer_since']}")
    if c.get("paid_orders") is not None:
        facts.append(count(c["paid_orders"], "paid orders"))
    if c.get("last_order"):
        facts.append(f"last order on {c['last_order']}")
    return head + (": " + ", ".join(facts) if facts else "")


def render_customers(plan: Plan, result: Result) -> str:
    data = result.data if isinstance(result.data, Mapping) else {}
    customers = [c for c in data.get("customers") or [] if isinstance(c, Mapping)]
    asked = _asked(result)
    if not customers:
        return f"No, there is no customer {asked}." if asked else "I found no customer record."
    if _own(result):
        return "Here is your customer record: " + customer_line(customers[0]) + "."
    if len(customers) == 1 and plan.followup and result.call.arguments.get("customer_id"):  # "more about her"
        return "Here is the customer record of " + customer_line(customers[0]) + "."
    if len(customers) == 1:
        return f"Yes, there is one customer {asked}: " + customer_line(customers[0]) + "."
    more = "\n\nThere are more; an email address or full name would narrow it down." if data.get("more") else ""
    if plan.wants_orders and not more:
        more = "\n\nWhich one do you mean? Tell me the email address or customer id, and I'll show their orders."
    return f"I found these customers {asked}:\n" + bullets(customer_line(c) for c in customers) + more


def _item(i: Mapping[str, Any]) -> str:
    line = f"{text(i.get('quantity'))} × {text(i.get('name'))}"
    if i.get("product_id"):
        line += f" ({i['product_id']})"
    return line + (f", {i['amount']}" if i.get("amount") else "")


def order_line(o: Mapping[str, Any]) -> str:
    items = [x for x in o.get("items") or [] if isinstance(x, Mapping)]
    head = f"{text(o.get('number')) or text(o.get('invoice_id'))} on {text(o.get('date'))}"
    head += f" ({text(o.get('status'))}, total {text(o.get('total'))})"
    body = join([_item(i) for i in items])
    more = f" and {o['more_items']} more items" if o.get("more_items") else ""
    return f"{head}: {body}{more}" if body else head


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


_NOT_PRODUCT = frozenset(
    [
        "ever",
        "bought",
        "buy",
        "order",
        "orders",
        "ordered",
        "purchase",
        "purchased",
        "purchases",
        "anything",
        "something",
        "last",
        "latest",
        "recent",
        "spent",
        "spend",
        "much",
        "arrived",
        "arrive",
        "shipped",
        "status",
        "history",
        "account",
        "get",
        "got",
        "did",
        "have",
        "has",
        "arrive",
        "when",
        "where",
        "place",
        "placed",
        "made",
        "time",
        "times",
        "before",
        "previously",
        "recently",
        "yet",
        "already",
        "thing",
        "things",
        "stuff",
        "make",
    ]
)


_BOUGHT_IT = re.compile(
    r"\b(?:have|did|has|had) (?:i|they|he|she|\w+ \w+|\w+) (?:ever |already |once )?"
    r"(?:buy|bought|order|ordered|purchase|purchased|get|got)\b",
    re.I,
)


def _product_words(plan: Plan, results: Sequence[Result]) -> list[str]:
    """Product words in "have I ever bought a tent?" (never the customer's name); none otherwise."""
    if plan.slots.period is not None or not _BOUGHT_IT.search(plan.slots.text):
        return []
    named = " ".join(text(r.call.arguments.get("name")) for r in results) + " " + text(plan.slots.person)
    names = set(tokens(named))
    return [w for w in content_words(plan.slots.query) if w not in _NOT_PRODUCT and w not in names]


def _with_words(orders: Sequence[Mapping[str, Any]], words: Sequence[str]) -> list[tuple[Mapping[str, Any], str]]:
    """(order, item name) for each item whose name has every one of ``words``."""
    found = []
    for o in orders:
        for item in o.get("items") or []:
            if isinstance(item, Mapping):
                name = text(item.get("name"))
                if all(word_in(w, tokens(name)) for w in words):
                    found.append((o, name))
    return found


def _when(label: str) -> str:
    """ "in March 2026", "since May 2026", "the last 30 days" -> "in the last 30 days"."""
    if label.startswith(("since ", "before ", "until ")):
        return label
    return f"in {label}"


def render_orders(plan: Plan, results: Sequence[Result]) -> str:
    result = results[-1]
    data = result.data if isinstance(result.data, Mapping) else {}
    orders = [o for o in data.get("orders") or [] if isinstance(o, Mapping)]
    own = _own(result) and not any(r.call.name == "find_customer" for r in results)
    whose = "your" if own else "their"
    who = "You have" if own else "This customer has"
    if not orders:
        note = f" ({data['note']})" if data.get("note") else ""
        return f"{who} no orders yet{note}." if own else f"I found no orders for that customer{note}."
    words = _product_words(plan, results)
    if words:
        hits = _with_words(orders, words)
        if hits:
            lines = [f"{name} in {text(o.get('number'))} on {text(o.get('date'))}" for o, name in hits[:MAX_ITEMS]]
            return f"Yes, {'you' if own else 'they'} bought:\n" + bullets(lines)
        scope = f"{whose} most recent orders" if data.get("more") else f"{whose} orders"
        asked = " ".join(words)
        return f'I can\'t see "{asked}" in {scope} (back to {text(orders[-1].get("date"))}).'
    period = plan.when
    inside = orders
    if period is not None:
        inside = [o for o in orders if (d := _date(o.get("date"))) is not None and period.contains(d)]
        if not inside:
            oldest = text(orders[-1].get("date"))
            if data.get("more"):
                return (
                    f"None of {whose} most recent orders (back to {oldest}) is {_when(period.label)}; "
                    "older ones are not shown here."
                )
            return f"{who} no orders {_when(period.label)}."
    if plan.slots.pick or plan.slots.tally:  # "and the cheapest one?", "how much in total?": of the orders shown
        more = bool(data.get("more")) and period is not None and inside[-1] is orders[-1]
        more = more or (bool(data.get("more")) and period is None)
        span = f" {_when(period.label)}" if period is not None else ""
        if plan.slots.tally == "total" and period is None and plan.followup and _about_one_order(plan.context):
            # "how much in total?" after the last order: that order's total, then all of them
            every = tally_answer(inside, "total", who, whose, "", data.get("orders_total"), more)
            return one_total(orders[0], whose) + " " + every
        if plan.slots.tally:
            return tally_answer(inside, plan.slots.tally, who, whose, span, data.get("orders_total"), more)
        return pick_answer(inside, plan.slots.pick == "cheapest", whose, span, order_line, more)
    if period is not None:
        when = _when(period.label)
        intro = f"{when[:1].upper()}{when[1:]} you bought:" if own else f"Their orders {when}:"
        return intro + "\n" + bullets(order_line(o) for o in inside[:MAX_ITEMS])
    if _LATEST.search(plan.slots.text) or (plan.followup and _LATEST.search(plan.context)):
        latest = orders[0]
        line = f"{'Your' if own else 'Their'} last order is {order_line(latest)}."
        if re.search(r"\bwhere\b|\bship|\bdeliver|\btrack", plan.slots.text, re.I):
            line += " I don't have shipping or tracking details here; the team can help with those."
        return line
    total = data.get("orders_total")
    head = f"{'Your' if own else 'Their'} orders, newest first"
    head += f" ({total} in all):" if total is not None else ":"
    return head + "\n" + bullets(order_line(o) for o in orders[:MAX_ITEMS])
