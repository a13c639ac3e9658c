"""Writing the answer from the tool outputs of this turn: one renderer per output shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from proxy.offline.conversation import Result
from proxy.offline.plan import Plan
from proxy.offline.render.common import text
from proxy.offline.render.customers import render_customers, render_orders
from proxy.offline.render.insights import insight_renderer
from proxy.offline.render.products import (
    render_edge,
    render_pick_of_shown,
    render_product,
    render_search,
    render_unconverted,
)
from proxy.offline.render.replies import (
    capabilities,
    render_generic,
    render_handoff,
    render_lead,
    render_refusal,
)
from proxy.offline.types import ToolSpec

__all__ = ("render_turn",)


def _is_search(result: Result) -> bool:
    data = result.data
    return (
        result.error is None
        and isinstance(data, Mapping)
        and isinstance(data.get("products"), list)
        and "ranked_by" not in data
    )


def _one(plan: Plan, result: Result, tools: Sequence[ToolSpec], group: Sequence[Result]) -> str:
    if result.error is not None:
        return render_refusal(result, tools)
    data = result.data
    if result.call.name in ("capture_lead", "sendEmail") or (isinstance(data, Mapping) and "lead_id" in data):
        return render_lead(result)
    if not isinstance(data, Mapping):
        return render_generic(result)
    if "tell_the_visitor" in data:
        return render_handoff(result)
    if renderer := insight_renderer(data):
        return renderer(plan, data)
    if _is_search(result):
        return render_search(plan, [result], capabilities(tools))
    if text(data.get("id")).startswith("prod_") or ("prices" in data and "name" in data):
        return render_product(data, plan)
    if isinstance(data.get("customers"), list):
        return render_customers(plan, result)
    if isinstance(data.get("orders"), list) and ("customer_ids" in data or "orders_total" in data):
        return render_orders(plan, list(group))
    return render_generic(result)


def render_turn(plan: Plan, results: Sequence[Result], tools: Sequence[ToolSpec]) -> str:
    """The reply for ``results`` (this turn's outputs, oldest first)."""
    if plan.edge:
        return render_edge(plan, results)
    if plan.unconverted is not None:
        return render_unconverted(plan, results)
    if plan.shown_in:
        return render_pick_of_shown(plan, results)
    if plan.together_with:
        done = [r for r in results if r.call.name != "search_products"]
        if not done:
            return f'I couldn\'t find a product matching "{plan.together_with}" to look up.'
        return _one(plan, done[-1], tools, results)
    if any(r.call.name == "customer_orders" for r in results) and any(r.call.name == "find_customer" for r in results):
        orders = [r for r in results if r.call.name == "customer_orders"][-1]
        found = [r for r in results if r.call.name == "find_customer"][-1]
        head = _one(plan, found, tools, results)
        return head + "\n\n" + _one(plan, orders, tools, results)
    parts: list[str] = []
    by_query: dict[str, list[Result]] = {}  # a widened second search joins its first; other queries stand alone
    for result in results:
        if _is_search(result):
            by_query.setdefault(text(result.call.arguments.get("query")), []).append(result)
    rendered: set[str] = set()
    for result in results:
        if _is_search(result):
            query = text(result.call.arguments.get("query"))
            if query not in rendered:
                parts.append(render_search(plan, by_query[query], capabilities(tools)))
                rendered.add(query)
            continue
        parts.append(_one(plan, result, tools, results))
    return "\n\n".join(p for p in parts if p)
