"""The calls that answer a question put to one tool, with their arguments; a first call in its
stead when the question needs something found first (a customer by name, a product by words)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from proxy.offline import arguments
from proxy.offline.conversation import Call, Turn
from proxy.offline.follow_ups import edge_plan, product_from_history
from proxy.offline.intents import has_cue
from proxy.offline.loose_entities import loose_name, product_words_of
from proxy.offline.plan import Plan
from proxy.offline.slots import Slots, product_queries
from proxy.offline.types import ToolSpec


def plan_tool(
    name: str, slots: Slots, specs: Mapping[str, ToolSpec], history: Sequence[Turn], previous: Turn | None
) -> Plan | None:
    """The plan for a question put to tool ``name``; ``None`` when its arguments cannot be filled."""
    spec = specs[name]
    if name == "search_products":
        if (shop_wide := arguments.shop_wide_arguments(slots)) is not None:
            return Plan("calls", name, slots, (Call(name, shop_wide),), shop_wide=True)
        if (edge := edge_plan(slots, {"query": arguments.GENERIC_QUERY}, None)) is not None:
            return edge  # "the most expensive thing under 20 dollars"
        queries = product_queries(slots.text) if slots.query else [arguments.GENERIC_QUERY]
        calls = tuple(Call(name, arguments.search_arguments(slots, q)) for q in queries)
        return Plan("calls", name, slots, calls)  # several products: parallel searches
    if name == "get_product":
        if slots.ids.products:
            return Plan("calls", name, slots, (Call(name, {"product_id": slots.ids.products[0]}),))
        picked = product_from_history(previous, slots)
        if picked:
            return Plan("calls", name, slots, (Call(name, {"product_id": picked}),))
        if "search_products" in specs and slots.query:
            return Plan("calls", "search_products", slots, (Call("search_products", {"query": slots.query}),))
        return None
    if name == "find_customer":
        wants_orders = has_cue(slots.text, "customer_orders") and "customer_orders" in specs
        args = arguments.customer_arguments(slots)
        if not args and (loose := loose_name(slots)):
            args = {"name": loose}
        return Plan("calls", name, slots, (Call(name, args),), wants_orders=wants_orders)
    if name == "customer_orders":
        args = arguments.orders_arguments(slots)
        person = slots.person or loose_name(slots)
        if "customer_id" not in args and "email" not in args and person and "find_customer" in specs:
            call = Call("find_customer", {"name": person})
            return Plan("calls", "find_customer", slots, (call,), wants_orders=True)
        return Plan("calls", name, slots, (Call(name, args),))
    if name == "shop_insights":
        args = arguments.insight_arguments(slots, spec)
        words = product_words_of(slots.text)
        if (
            args.get("question") in ("bought_together", "second_product")
            and "product_id" not in args
            and words
            and "search_products" in specs
        ):
            query = " ".join(words)
            search = Call("search_products", {"query": query, "limit": 3})
            return Plan("calls", name, slots, (search,), together_with=query)
        # "who spent the least?" right after the top customers of March: the same month (and, for
        # "who of them spent the least?", the same list)
        same = [c for c in previous.calls if c.arguments.get("question") == args.get("question")] if previous else []
        if same and slots.pick and slots.period is None:
            kept = ("date_from", "date_to", "currency", "limit", "rank")
            args = {k: v for k, v in same[-1].arguments.items() if k in kept} | args
        context = previous.user if same and previous is not None else ""
        return Plan("calls", name, slots, (Call(name, args),), followup=bool(same), context=context)
    if name in ("capture_lead", "sendEmail"):
        lead = arguments.lead_arguments(slots, spec, history)
        if lead is None:
            return Plan("ask_contact", name, slots)
        return Plan("calls", name, slots, (Call(name, lead),))
    if name == "escalate_to_human":
        return Plan("calls", name, slots, (Call(name, arguments.handoff_arguments(slots, spec)),))
    generic = arguments.generic_arguments(spec, slots)
    if generic is None:
        return None
    return Plan("calls", name, slots, (Call(name, generic),))
