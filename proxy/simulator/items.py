"""Items of the Responses and Conversations APIs: input validation, stored shape, model view."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from proxy.simulator.errors import APIError, invalid_request, missing_parameter
from proxy.simulator.script import Entry

__all__ = ("check_tool_pairing", "content_text", "limit_error", "normalize_items", "to_entries")

_ROLES = frozenset({"user", "assistant", "system", "developer"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})


def content_text(content: Any) -> str:
    """The text of a message content or a function output: a string, or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") in _TEXT_PARTS
        )
    return ""


def _message(raw: dict[str, Any], param: str, new_id: Callable[[str], str]) -> dict[str, Any]:
    role = raw.get("role")
    if role is None:
        raise missing_parameter(f"{param}.role")
    if role not in _ROLES:
        raise invalid_request(
            f"Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', and 'user'.",
            param=f"{param}.role",
            code="invalid_value",
        )
    content = raw.get("content")
    if content is None:
        raise missing_parameter(f"{param}.content")
    if isinstance(content, str):
        content = (
            [{"type": "output_text", "text": content, "annotations": []}]
            if role == "assistant"
            else [{"type": "input_text", "text": content}]
        )
    elif not isinstance(content, list):
        raise invalid_request(f"Invalid type for '{param}.content': expected a string or an array.", param=param)
    return {
        "id": raw.get("id") or new_id("msg_"),
        "type": "message",
        "status": "completed",
        "role": role,
        "content": content,
    }


def _function_call(raw: dict[str, Any], param: str, new_id: Callable[[str], str]) -> dict[str, Any]:
    for name in ("call_id", "name", "arguments"):
        if not isinstance(raw.get(name), str):
            raise missing_parameter(f"{param}.{name}")
    return {
        "id": raw.get("id") or new_id("fc_"),
        "type": "function_call",
        "status": "completed",
        "call_id": raw["call_id"],
        "name": raw["name"],
        "arguments": raw["arguments"],
    }


def _function_call_output(raw: dict[str, Any], param: str, new_id: Callable[[str], str]) -> dict[str, Any]:
    if not isinstance(raw.get("call_id"), str):
        raise missing_parameter(f"{param}.call_id")
    if "output" not in raw:
        raise missing_parameter(f"{param}.output")
    return {
        "id": raw.get("id") or new_id("fco_"),
        "type": "function_call_output",
        "status": "completed",
        "call_id": raw["call_id"],
        "output": raw["output"],
    }


def normalize_items(raw: Any, param: str, new_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """Validate client items (``input`` of a response, ``items`` of a conversation) into stored items.

    A bare string is one user message; ``item_reference`` items are dropped (nothing to resolve).
    """
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise invalid_request(f"Invalid type for '{param}': expected a string or an array.", param=param)
    items: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        where = f"{param}[{index}]"
        if not isinstance(item, dict):
            raise invalid_request(f"Invalid type for '{where}': expected an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            items.append(_message(item, where, new_id))
        elif kind == "function_call":
            items.append(_function_call(item, where, new_id))
        elif kind == "function_call_output":
            items.append(_function_call_output(item, where, new_id))
        elif kind != "item_reference":
            raise invalid_request(
                f"Invalid value: '{kind}'. Supported values are: 'message', 'function_call', "
                "'function_call_output' and 'item_reference'.",
                param=f"{where}.type",
                code="invalid_value",
            )
    return items


def check_tool_pairing(items: Iterable[dict[str, Any]], *, param: str, require_outputs: bool) -> None:
    """Every output needs an earlier call; with ``require_outputs`` every call needs an output.

    These are the API's own 400s: a conversation left with unanswered calls refuses new input.
    """
    open_calls: dict[str, None] = {}
    known: set[str] = set()
    for item in items:
        kind = item["type"]
        if kind == "function_call":
            known.add(item["call_id"])
            open_calls[item["call_id"]] = None
        elif kind == "function_call_output":
            call_id = item["call_id"]
            if call_id not in known:
                raise invalid_request(
                    f"No tool call found for function call output with call_id {call_id}.", param=param
                )
            open_calls.pop(call_id, None)
    if require_outputs and open_calls:
        raise invalid_request(f"No tool output found for function call {next(iter(open_calls))}.", param=param)


def to_entries(items: Sequence[dict[str, Any]]) -> list[Entry]:
    """The model's view of stored items; tool outputs are named after their call."""
    names = {item["call_id"]: item["name"] for item in items if item["type"] == "function_call"}
    entries: list[Entry] = []
    for item in items:
        kind = item["type"]
        if kind == "message":
            role = item["role"]
            text = content_text(item["content"])
            entries.append(Entry("system" if role in ("system", "developer") else role, text))
        elif kind == "function_call":
            entries.append(Entry("assistant", item["arguments"], item.get("name", "")))
        elif kind == "function_call_output":
            output = content_text(item["output"])
            entries.append(Entry("tool", output, names.get(item["call_id"], item["call_id"])))
    return entries


def limit_error(param: str, count: int, maximum: int) -> APIError:
    return invalid_request(
        f"Invalid '{param}': array too long. Expected an array with maximum length {maximum}, "
        f"but got an array with length {count} instead.",
        param=param,
        code="array_above_max_length",
    )
