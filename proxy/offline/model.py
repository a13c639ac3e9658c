"""The offline model: one deterministic step of a conversation.

Given the transcript and the offered tools it either calls tools (its understanding of the last
user message) or, once their outputs are in, writes the answer from them. It routes by words and
writes from templates: every fact in its answers comes from a tool output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from proxy.offline import arguments, price_edges
from proxy.offline.conversation import Call, Result, split_turns
from proxy.offline.plan import Plan
from proxy.offline.planner import make_plan
from proxy.offline.render import render_turn
from proxy.offline.render.common import match_of, text
from proxy.offline.render.replies import ask_contact, small_talk
from proxy.offline.types import Answer, Message, ToolSpec

MAX_CALLS_PER_TURN = 4


def _json(arguments: Mapping[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def _calls(calls: Sequence[Call]) -> Answer:
    return Answer(tool_calls=tuple((c.name, _json(c.arguments)) for c in calls))


def _strong_products(result: Result, query: str) -> list[Mapping[str, Any]]:
    data = result.data if isinstance(result.data, Mapping) else {}
    cards = [c for c in data.get("products") or [] if isinstance(c, Mapping)]
    return [c for c in cards if match_of(c, query) == "strong"]


def _next_calls(plan: Plan, results: Sequence[Result], tools: Sequence[ToolSpec]) -> list[Call]:
    """A second step this turn needs, now that the first outputs are in."""
    specs = {t.name: t for t in tools}
    names = [r.call.name for r in results]
    last = results[-1]
    if plan.edge:
        found = price_edges.next_search(plan.edge, results) if set(names) == {"search_products"} else None
        return [found] if found is not None else []
    if plan.together_with and names == ["search_products"] and "shop_insights" in specs:
        strong = _strong_products(last, plan.together_with)
        if strong:
            args = arguments.insight_arguments(plan.slots, specs["shop_insights"])
            return [Call("shop_insights", args | {"product_id": text(strong[0].get("id"))})]
        return []
    if plan.wants_orders and names == ["find_customer"] and "customer_orders" in specs:
        data = last.data if isinstance(last.data, Mapping) else {}
        customers = [c for c in data.get("customers") or [] if isinstance(c, Mapping)]
        if len(customers) == 1 and customers[0].get("id"):
            args = arguments.orders_arguments(plan.slots) | {"customer_id": text(customers[0]["id"])}
            args.pop("email", None)
            return [Call("customer_orders", args)]
        return []
    if names == ["search_products"] and last.error is None and isinstance(last.data, Mapping):
        data, args = last.data, last.call.arguments
        bounded = args.get("max_price") is not None or args.get("min_price") is not None
        annotated = "nothing_matches" in data or "alternatives" in data
        query = text(data.get("query")) or text(args.get("query"))
        if bounded and not annotated and not _strong_products(last, query):
            wider = {k: v for k, v in args.items() if k not in ("min_price", "max_price", "limit")}
            return [Call("search_products", wider | {"limit": 10})]
    return []


def _clean(reply: str) -> str:
    """Never let JSON or directive syntax through, whatever a tool returned."""
    return reply.replace("[[", "[").replace("]]", "]").replace("{", "(").replace("}", ")").strip()


def respond(
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    *,
    instructions: str = "",
    now: datetime | None = None,
) -> Answer:
    """The model's next step for ``messages`` (pure: same inputs and ``now``, same answer)."""
    now = now or datetime.now(UTC)
    turns = split_turns(messages)
    current, history = turns[-1], turns[:-1]
    plan = make_plan(current.user, tools, now, history)
    offered = {t.name for t in tools}
    if current.outputs:
        results = current.results()
        follow = [c for c in _next_calls(plan, results, tools) if c.name in offered]
        if follow and len(current.calls) < max(MAX_CALLS_PER_TURN, price_edges.MAX_STEPS if plan.edge else 0):
            return _calls(follow)
        return Answer(text=_clean(render_turn(plan, results, tools)))
    if plan.kind == "calls":
        calls = [c for c in plan.calls if c.name in offered]
        if calls:
            return _calls(calls)
    if plan.kind == "ask_contact":
        return Answer(text=ask_contact(plan.intent))
    return Answer(text=_clean(small_talk(plan.intent if plan.kind == "talk" else "unknown", tools)))


class OfflineModel:
    """:func:`respond` with a fixed clock, for callers that hold a model object."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now

    def respond(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *, instructions: str = "") -> Answer:
        return respond(messages, tools, instructions=instructions, now=self.now)
