"""``@ag-ui/client``'s HttpAgent runs turns against ``POST /v1/agui`` and verifies the event order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.frontends.conftest import CLIENT_KEY, Gateway, run_node

pytestmark = pytest.mark.integration


def run_agent(gateway: Gateway, visitor: str, text: str, **extra: Any) -> dict[str, Any]:
    thread_id = extra.pop("thread_id", None) or gateway.new_thread(visitor)
    args = {"url": f"{gateway.url}/v1/agui", "headers": gateway.headers(visitor), "threadId": thread_id, "text": text}
    result = run_node("agui_run.mjs", {**args, **extra})
    result["thread_id"] = thread_id
    return result


def types(result: dict[str, Any]) -> list[str]:
    return [event["type"] for event in result["events"]]


def test_plain_reply(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    # the first token comes after 1.2 s: the gateway sends `: ping` comments (every 0.5 s) meanwhile
    result = run_agent(gateway, visitor, "[[pace:ttft=1200]] [[reply:Yes, we ship to Norway.]] do you ship to Norway?")

    assert result["error"] is None
    assert result["verified"] is True
    assert types(result)[0] == "RUN_STARTED" and types(result)[-1] == "RUN_FINISHED"
    assert {"TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END"} <= set(types(result))
    started, finished = result["events"][0], result["events"][-1]
    assert started["threadId"] == result["thread_id"] and started["runId"] == "client-run-1"
    assert started["metadata"]["assistantProxy"]["runId"].startswith("run_")
    assert finished["outcome"] == {"type": "success"}
    assert finished["usage"][0]["outputTokens"] > 0
    assistant = [m for m in result["messages"] if m["role"] == "assistant"]
    assert [m["content"] for m in assistant] == ["Yes, we ship to Norway."]


def test_tool_call_and_lead(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    lead = '{"name": "Ann Lee", "email": "ann@example.com", "message": "Wholesale prices please"}'
    text = f'[[tool:search_products {{"query": "dripper"}}]] [[tool:capture_lead {lead}]] drippers, and call me'
    result = run_agent(gateway, visitor, text)

    assert result["error"] is None and result["verified"] is True
    starts = [event for event in result["events"] if event["type"] == "TOOL_CALL_START"]
    assert sorted(event["toolCallName"] for event in starts) == ["capture_lead", "search_products"]
    results = [event for event in result["events"] if event["type"] == "TOOL_CALL_RESULT"]
    assert {event["toolCallId"] for event in results} == {event["toolCallId"] for event in starts}
    custom = [event for event in result["events"] if event["type"] == "CUSTOM"]
    assert [event["name"] for event in custom] == ["lead.captured"]
    assert custom[0]["value"]["status"] == "saved"
    # the agent keeps the calls and their results as messages, as for any AG-UI agent
    calls = [call for m in result["messages"] if m["role"] == "assistant" for call in m.get("toolCalls") or []]
    assert sorted(call["function"]["name"] for call in calls) == ["capture_lead", "search_products"]
    assert len([m for m in result["messages"] if m["role"] == "tool"]) == 2


def test_provider_failure_is_a_run_error(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    result = run_agent(gateway, visitor, "[[fault:500]] hello")

    assert types(result)[0] == "RUN_STARTED"
    assert types(result)[-1] == "RUN_ERROR"
    assert result["events"][-1]["code"] == "upstream_unavailable"
    assert result["events"][-1]["message"]


def test_front_end_tools_are_ignored(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    tools = [{"name": "setTheme", "description": "Change the page's colours", "parameters": {"type": "object"}}]
    result = run_agent(gateway, visitor, "[[reply:Done.]] make it dark", tools=tools)

    assert result["error"] is None and result["verified"] is True
    assert "TOOL_CALL_START" not in types(result)


def test_a_tool_result_from_the_front_end_is_refused(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    history = [
        {"id": "u0", "role": "user", "content": "make it dark"},
        {
            "id": "a0",
            "role": "assistant",
            "content": "",
            "toolCalls": [{"id": "tc1", "type": "function", "function": {"name": "setTheme", "arguments": "{}"}}],
        },
        {"id": "t0", "role": "tool", "toolCallId": "tc1", "content": "done"},
    ]
    thread_id = gateway.new_thread(visitor)
    body = {"threadId": thread_id, "runId": "r1", "messages": history, "tools": [], "context": []}
    response = httpx.post(f"{gateway.url}/v1/agui", headers=gateway.headers(visitor), json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_message"
    assert "front-end tools" in response.json()["error"]["message"]


HI = [{"id": "u", "role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"runId": "r1", "messages": HI}, "invalid_request"),  # no thread
        ({"threadId": "THREAD", "messages": HI}, "invalid_request"),  # no run id
        ({"threadId": "THREAD", "runId": "r1", "messages": []}, "invalid_request"),
        ({"threadId": "THREAD", "runId": "r1", "messages": "hi"}, "invalid_request"),
        (
            {"threadId": "THREAD", "runId": "r1", "messages": [{"id": "u", "role": "user", "content": 7}]},
            "invalid_request",
        ),
        (
            {"threadId": "THREAD", "runId": "r1", "messages": [{"id": "u", "role": "user", "content": " "}]},
            "empty_message",
        ),
        ({"threadId": "THREAD", "runId": "r1", "messages": HI, "resume": [{"interruptId": "i"}]}, "unsupported_resume"),
    ],
)
def test_bad_input_is_a_json_error(gateway: Gateway, visitor: str, body: dict[str, Any], code: str) -> None:
    if body.get("threadId") == "THREAD":
        body = {**body, "threadId": gateway.new_thread(visitor)}
    response = httpx.post(f"{gateway.url}/v1/agui", headers=gateway.headers(visitor), json=body)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_another_tenants_thread_is_not_found(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    created = httpx.post(f"{gateway.url}/v1/threads", headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    result = run_agent(gateway, visitor, "hello", thread_id=created.json()["thread_id"])

    assert result["error"] is not None
    assert "HTTP 404" in result["error"] and "thread_not_found" in result["error"]


def test_stop_with_the_cancel_route(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    words = " ".join(f"word{i}" for i in range(80))
    result = run_agent(gateway, visitor, f"[[pace:gap=100]] [[reply:{words}]]", stopAfterText=True, origin=gateway.url)

    assert result["error"] is None and result["verified"] is True
    assert types(result)[-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    assert result["events"][-1]["outcome"] == {"type": "cancelled"}
    reply = next(m["content"] for m in result["messages"] if m["role"] == "assistant")
    assert reply.startswith("word0") and len(reply.split()) < 80
