"""From a message (and the turns before it) to what to do: call tools, or answer in words."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from proxy.offline import arguments
from proxy.offline.conversation import Call, Turn
from proxy.offline.follow_ups import asks_about_person, follow_up, has_lookup, only_currency
from proxy.offline.intents import THRESHOLD, TOOL_CUES, identity_question, policy_topic, score_tools, small_talk
from proxy.offline.plan import Plan
from proxy.offline.slots import Slots, find_slots
from proxy.offline.tool_plans import plan_tool
from proxy.offline.types import ToolSpec
from proxy.offline.words import looks_like_words

STRONG = 3.0  # a cue this sure is a new question, not a follow-up of the last one
_OPENER = re.compile(
    r"^\s*(?:and|what about|how about|same|also|only|now|ok(?:ay)?,? and|but|then|what if|by(?! the way))\b", re.I
)
_CHANGE_ORDER = re.compile(
    r"\b(?:cancel|change|modify|amend|edit|update)\s+(?:my|an|the|this|that|our)?\s*"
    r"(?:order|purchase|delivery address)\b",
    re.I,
)


def _previous_turn(history: Sequence[Turn]) -> Turn | None:
    for turn in reversed(history):
        if turn.calls:
            return turn
    return None


def _recalled(history: Sequence[Turn], tools: Sequence[ToolSpec], now: datetime, depth: int = 3) -> Turn | None:
    """The last turn with its calls. A transcript of text only (as Chat Completions keep it) has
    none: then the calls are those the previous message asks for, planned again (deterministic)."""
    found = _previous_turn(history)
    if found is not None or not history or depth <= 0:
        return found
    last = history[-1]
    if not last.user:
        return None
    earlier = make_plan(last.user, tools, now, history[:-1], depth=depth - 1)
    if earlier.kind != "calls":
        return None
    return Turn(user=last.user, calls=list(earlier.calls), reply=last.reply)


def _last_lookup(history: Sequence[Turn], previous: Turn, specs: Mapping[str, ToolSpec]) -> Turn | None:
    """When ``previous`` only did something or showed one product (a handoff, a lead, a product's
    details), the last turn before it that looked something up a follow-up can change."""
    if has_lookup(previous, specs):
        return None
    index = next((i for i, turn in enumerate(history) if turn is previous), None)
    if index is None:
        return None
    return next((turn for turn in reversed(history[:index]) if has_lookup(turn, specs)), None)


_ORDERS = ("customer_orders", "find_customer")
_PERIOD_LOOKBACK = 8  # earlier messages searched for what a chain of follow-ups is about


def _chain(previous: Turn, history: Sequence[Turn], tools: Sequence[ToolSpec], now: datetime) -> Iterator[Plan]:
    """The plans of ``previous`` and the messages before it, newest first (a chain of follow-ups is
    read back through these to the question it follows)."""
    found = [i for i, turn in enumerate(history) if turn is previous or (turn.user and turn.user == previous.user)]
    for index in reversed(range(max(0, found[-1] - _PERIOD_LOOKBACK + 1), found[-1] + 1) if found else range(0)):
        yield make_plan(history[index].user, tools, now, history[:index], depth=1, inherit=False)


def _inherited(plan: Plan, previous: Turn, history: Sequence[Turn], tools: Sequence[ToolSpec], now: datetime) -> Plan:
    """A follow-up of a customer's orders keeps the period of the questions it follows: the orders
    tool takes no dates, the period is only in the words ("in March", then "and the cheapest one?",
    then "how much in total?"). Back through the follow-ups to the first message naming a period;
    none when a fresh question without one comes first."""
    if plan.intent not in _ORDERS or plan.slots.period is not None:
        return plan
    for earlier in _chain(previous, history, tools, now):
        if earlier.intent not in _ORDERS:
            return plan
        if earlier.slots.period is not None:
            return replace(plan, period=earlier.slots.period)
        if not earlier.followup:
            return plan
    return plan


def _shown_in(previous: Turn, slots: Slots, now: datetime) -> str:
    """The currency the products of ``previous`` were shown in when it showed them again in another
    currency ("in dollars?" after a jacket under 150 EUR) and this message names none."""
    if slots.prices.currency or not previous.calls or any(c.name != "get_product" for c in previous.calls):
        return ""
    before = find_slots(previous.user, now)
    return (before.prices.currency or "") if only_currency(before) else ""


def _in_shown_currency(plan: Plan, currency: str) -> Plan:
    """A follow-up of a search after its products were shown in ``currency``: a limit this message
    gives is in that currency ("something under 20" after "in euros?")."""
    if plan.intent != "search_products" or plan.edge or plan.shop_wide or len(plan.calls) != 1:
        return plan
    if plan.slots.prices.min_price is not None or plan.slots.prices.max_price is not None:
        call = plan.calls[0]
        return replace(plan, calls=(Call(call.name, call.arguments | {"currency": currency}),))
    return plan


def _pick_of_shown(previous: Turn, slots: Slots, shown: str) -> Plan | None:
    """ "the most expensive?" after products shown again in the currency ``shown``: the dearest of
    those products, in that currency (their details again, to compare their prices in it)."""
    if not shown or not slots.pick or slots.query:
        return None
    if slots.prices.min_price is not None or slots.prices.max_price is not None:
        return None
    ids = dict.fromkeys(str(c.arguments.get("product_id")) for c in previous.calls)
    calls = tuple(Call("get_product", {"product_id": pid}) for pid in ids)
    return Plan("calls", "get_product", slots, calls, followup=True, context=previous.user, shown_in=shown)


def _kept_pick(plan: Plan, previous: Turn, history: Sequence[Turn], tools: Sequence[ToolSpec], now: datetime) -> Plan:
    """A follow-up that only changes the period or currency of a question about the one customer who
    spent the least (or the most) asks about that one customer again ("and in March?" after "who
    spent the least overall?"), not for the whole list. Back through the follow-ups to the question."""
    args = plan.calls[0].arguments if plan.calls else {}
    slots = plan.slots
    if plan.intent != "shop_insights" or args.get("question") != "top_customers":
        return plan
    if slots.pick or slots.tally or slots.limit or slots.question_weight >= 2.5 or slots.of_shown:
        return plan
    for earlier in _chain(previous, history, tools, now):
        if earlier.intent != "shop_insights":
            return plan
        if earlier.slots.pick and not (earlier.slots.tally or earlier.slots.of_shown):
            return replace(plan, slots=replace(slots, pick=earlier.slots.pick))
        if not earlier.followup:
            return plan
    return plan


def make_plan(
    text: str,
    tools: Sequence[ToolSpec],
    now: datetime,
    history: Sequence[Turn] = (),
    *,
    depth: int = 3,
    inherit: bool = True,
) -> Plan:
    slots = find_slots(text, now)
    specs = {spec.name: spec for spec in tools}
    if not text.strip():
        return Plan("talk", "greeting", slots)
    scored = score_tools(text, tools)
    best = scored[0] if scored else None
    talk = small_talk(text)
    if identity_question(text):
        return Plan("talk", "capabilities", slots)
    previous = _recalled(history, tools, now, depth)

    opener = _OPENER.match(text) is not None
    same_tool = previous is not None and best is not None and any(c.name == best.tool for c in previous.calls)
    weak = best is None or best.score < STRONG or (opener and same_tool)  # "and by revenue?" after best sellers
    back = slots.modifies or slots.refers_back or opener or asks_about_person(text)
    if previous is not None and weak and (talk is None or opener) and back:
        shown = _shown_in(previous, slots, now)
        followed = _pick_of_shown(previous, slots, shown) or follow_up(previous, slots, specs)
        if followed is None and (before := _last_lookup(history, previous, specs)) is not None:
            followed = follow_up(before, slots, specs)  # "what about under 300?" after a product's details
            if followed is not None and shown:
                followed = _in_shown_currency(followed, shown)
        if followed is None and only_currency(slots):  # "in dollars?" after a handoff: nothing to show in it
            return Plan("talk", "currency_of_what", slots, followup=True)
        if followed is not None:
            if not inherit:
                return followed
            return _kept_pick(_inherited(followed, previous, history, tools, now), previous, history, tools, now)

    if _CHANGE_ORDER.search(text):
        return Plan("talk", "policy:changing or cancelling orders", slots)
    # returns, shipping, payment: no tool of ours knows the shop's policies; another tool may
    unsure = best is None or best.score < THRESHOLD or (best.score < STRONG and best.tool in TOOL_CUES)
    if (topic := policy_topic(text)) and unsure:
        return Plan("talk", f"policy:{topic}", slots)
    if best is not None and best.score >= THRESHOLD:
        planned = plan_tool(best.tool, slots, specs, history, previous)
        if planned is not None:
            return planned
    if slots.emails and ("capture_lead" in specs or "sendEmail" in specs) and not talk:
        planned = plan_tool("capture_lead" if "capture_lead" in specs else "sendEmail", slots, specs, history, previous)
        if planned is not None:
            return planned
    if talk is not None:
        return Plan("talk", talk, slots)
    if "search_products" in specs and slots.query and looks_like_words(text):
        call = Call("search_products", arguments.search_arguments(slots, slots.query))
        return Plan("calls", "search_products", slots, (call,), probe=True)
    return Plan("unknown", "unknown", slots)
