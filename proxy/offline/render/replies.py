"""Answers that are not lists of records: small talk, what the assistant can do, leads, handoffs,
refusals and errors passed on kindly, and a readable rendering of any other tool's output."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from proxy.offline.conversation import Result
from proxy.offline.render.common import bullets, humanize, join, text
from proxy.offline.render.limits import cannot
from proxy.offline.types import ToolSpec

_CAN_DO = {
    "search_products": "find products and prices in our catalogue",
    "get_product": "give you the details of a product",
    "customer_orders": "show your orders and account details once you are signed in",
    "find_customer": "show your orders and account details once you are signed in",
    "shop_insights": "answer sales questions for the shop's staff",
    "capture_lead": "pass a message to the team so they can reply by email",
    "sendEmail": "pass a message to the team so they can reply by email",
    "escalate_to_human": "put you in touch with a person on the team",
}


def capabilities(tools: Sequence[ToolSpec]) -> str:
    """One sentence saying what the offered tools let the assistant do."""
    phrases: list[str] = []
    for spec in tools:
        phrase = _CAN_DO.get(spec.name)
        if phrase is None and spec.description:
            first = re.split(r"(?<=[.!?])\s", spec.description.strip())[0].rstrip(".")
            phrase = first[:1].lower() + first[1:]
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    if not phrases:
        return "I can answer questions about this site, but I have no tools to look anything up right now."
    return "I can:\n" + bullets(phrases)


def small_talk(kind: str, tools: Sequence[ToolSpec]) -> str:
    can = capabilities(tools)
    if kind == "greeting":
        return f"Hello! {can}\n\nWhat can I do for you?"
    if kind == "thanks":
        return "You're welcome! Is there anything else I can help with?"
    if kind == "currency_of_what":
        return (
            "Which prices would you like in that currency? Ask about a kind of product with it, for example"
            ' "tents in USD".'
        )
    if kind == "no_money":
        return (
            "Those figures count orders and customers, not money, so they are the same in every currency."
            ' For amounts, ask for the revenue or the best sellers by revenue ("revenue in USD").'
        )
    if kind.startswith("charged_in:"):
        charged = kind.partition(":")[2].split(",")
        return (
            f"Those amounts were charged in {join(charged, 'and')}, and I can only show them in the currency they"
            " were charged in; I don't convert amounts between currencies."
        )
    if kind.startswith("already_in:"):
        return f"Those amounts are already in {kind.partition(':')[2]}."
    if kind.startswith("cannot:"):
        return cannot(kind.partition(":")[2])
    if kind.startswith("policy:"):
        topic = kind.partition(":")[2]
        offers = [
            phrase
            for name, phrase in (
                ("capture_lead", "pass your question to the team (they reply by email)"),
                ("escalate_to_human", "put you in touch with a person on the team"),
            )
            if any(t.name == name or (name == "capture_lead" and t.name == "sendEmail") for t in tools)
        ]
        help_line = f" I can {join(offers, 'or')}." if offers else ""
        if topic == "changing or cancelling orders":
            return f"I can't change or cancel orders from here.{help_line}"
        return f"I don't have the shop's information on {topic} here, so I can't answer that myself.{help_line}"
    if kind == "how_are_you":
        return f"I'm doing well, thanks for asking! {can}"
    if kind == "ack":
        return "Alright. Let me know if there is anything else I can help with."
    if kind == "goodbye":
        return "Goodbye, and thanks for stopping by!"
    if kind == "capabilities":
        return (
            "I'm the shop's automated assistant, an offline model that finds answers in the shop's data by the"
            f" words you use. {can}\n\nAsk in plain words, one thing at a time."
        )
    if kind == "off_topic":
        return f"I'm afraid I can't help with that: I only know about this shop. {can}"
    return f"Sorry, I'm not sure what you mean. {can}"


def ask_contact(kind: str) -> str:
    return "I'd be glad to pass that on to the team. What name and email address should they use to reply to you?"


def render_lead(result: Result) -> str:
    data = result.data
    message = text(data.get("message")) if isinstance(data, Mapping) else text(data)
    if message.startswith("Saved;"):
        return "Thank you, your details are saved;" + message.removeprefix("Saved;")
    if message.startswith("Already saved;"):
        return "Your details were already saved;" + message.removeprefix("Already saved;")
    return message or "Thank you, your details are saved."


def render_handoff(result: Result) -> str:
    data = result.data if isinstance(result.data, Mapping) else {}
    if data.get("status") == "already_requested":
        # the widget already shows the request's own note (the turn raised it before the model ran)
        line = "Our team has your request and will reply as soon as someone is free."
        if data.get("next_step"):
            line += " If you leave your name and email address here, they can write to you."
        return line
    line = text(data.get("tell_the_visitor")) or "I've asked a member of our team to take over."
    if data.get("next_step") and "email" not in line.lower():
        line += " Could you leave your name and email address so they can reply to you?"
    return line


def render_refusal(result: Result, tools: Sequence[ToolSpec]) -> str:
    """A failed call's error, passed on in the visitor's terms."""
    error = result.error or ""
    name = result.call.name
    offered = {t.name for t in tools}
    catalog = " I can help you find products and prices meanwhile." if "search_products" in offered else ""
    asks_about_someone = any(result.call.arguments.get(k) for k in ("name", "email", "customer_id"))
    if error.startswith("Not allowed"):
        if "not signed in" in error and name in ("find_customer", "customer_orders") and asks_about_someone:
            return "Sorry, I can't share customers' details here." + catalog
        if "not signed in" in error:
            if name == "shop_insights" or "shop-wide" in error:
                return (
                    "Sorry, sales figures and other customers' details are only available to the shop's staff."
                    + catalog
                )
            return "Please sign in to your account first, then I can show your orders and account details." + catalog
        if "their own" in error:
            if name == "shop_insights" or "shop-wide" in error:
                return (
                    "Sorry, shop-wide sales figures are only available to the shop's staff. "
                    "I can show you your own orders and account details."
                )
            return "For privacy I can only show your own customer record and orders."
        return "Sorry, I'm not able to share that here." + catalog
    if "No customer record is linked" in error:
        return "I couldn't find a customer record linked to your email address, so I can't show orders here."
    if error.startswith("there is no product with id"):
        return f"Sorry, I couldn't find that product ({error.removeprefix('there is no product with id').strip()})."
    if error.startswith("give "):  # the tool needs to know whom or what: ask the visitor
        return "Which customer do you mean? Tell me their name, email address or customer id."
    if "not available on this site" in error:
        return "Sorry, the shop's data is not available on this site."
    short = re.sub(r";?\s*tell the visitor.*$", "", error, flags=re.I).strip().rstrip(".")
    if short and len(short) <= 200 and "{" not in short:
        return f"Sorry, I couldn't get that: {short}."
    return "Sorry, I couldn't get that information right now."


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return text(value)


def _flat(value: Any, depth: int = 0) -> str:
    if isinstance(value, Mapping):
        parts = [f"{humanize(str(k))}: {_flat(v, depth + 1)}" for k, v in value.items() if v not in (None, "", [], {})]
        return "; ".join(parts)
    if isinstance(value, list):
        return join([_flat(v, depth + 1) for v in value[:10]])
    return _scalar(value)


def render_generic(result: Result) -> str:
    """Any other tool's output as short readable lines, never as JSON."""
    data = result.data
    label = humanize(result.call.name)
    if data is None:
        raw = " ".join(result.text.split())
        return raw[:1500] if raw else f"{label} returned nothing."
    if isinstance(data, str | int | float | bool):
        return _scalar(data)
    if isinstance(data, list):
        if not data:
            return f"{label} found nothing."
        return f"Here is what {label.lower()} returned:\n" + bullets(_flat(v) for v in data[:10])
    if isinstance(data, Mapping):
        if not data:
            return f"{label} returned nothing."
        lines = []
        for key, value in data.items():
            if value in (None, "", [], {}):
                continue
            if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
                lines.append(f"{humanize(str(key))}:\n" + "\n".join(f"  - {_flat(v)}" for v in value[:10]))
            else:
                lines.append(f"{humanize(str(key))}: {_flat(value)}")
        return f"Here is what {label.lower()} returned:\n" + bullets(lines)
    return text(data)
