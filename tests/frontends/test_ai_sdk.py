"""The AI SDK's own transport and UI message reader consume ``POST /v1/ui/chat``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.frontends.conftest import CLIENT_KEY, Gateway, run_node
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def chat(gateway: Gateway, visitor: str, text: str, **extra: Any) -> dict[str, Any]:
    thread_id = gateway.new_thread(visitor)
    args = {
        "api": f"{gateway.url}/v1/ui/chat",
        "origin": gateway.url,
        "headers": gateway.headers(visitor),
        "chatId": thread_id,
        "text": text,
        **extra,
    }
    result = run_node("ui_stream.mjs", args)
    result["thread_id"] = thread_id
    return result


def user_message(text: str) -> dict[str, Any]:
    return {"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}


def post_chat(gateway: Gateway, visitor: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/ui/chat", headers=gateway.headers(visitor), json=body)


def types(result: dict[str, Any]) -> list[str]:
    return [chunk["type"] for chunk in result["chunks"]]


def text_of(message: dict[str, Any]) -> str:
    return "".join(part["text"] for part in message["parts"] if part["type"] == "text")


def test_plain_reply(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    # the first token comes after 1.2 s: the gateway sends `: ping` comments (every 0.5 s) meanwhile
    result = chat(gateway, visitor, "[[pace:ttft=1200]] [[reply:Our dripper is stoneware.]] what is it made of?")

    assert result["errors"] == []
    assert types(result)[0] == "start" and types(result)[-1] == "finish"
    assert {"text-start", "text-delta", "text-end"} <= set(types(result))
    message = result["message"]
    assert message["role"] == "assistant"
    assert [part["type"] for part in message["parts"]] == ["text"]
    assert text_of(message) == "Our dripper is stoneware."
    assert message["parts"][0]["state"] == "done"
    assert message["metadata"]["threadId"] == result["thread_id"]
    assert message["metadata"]["usage"]["output_tokens"] > 0
    history = httpx.get(f"{gateway.url}/v1/threads/{result['thread_id']}/messages", headers=gateway.headers(visitor))
    assert [(m["role"], m["content"]) for m in history.json()["messages"]][-1] == (
        "assistant",
        "Our dripper is stoneware.",
    )


def test_server_side_tool_call(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    result = chat(gateway, visitor, '[[tool:search_products {"query": "dripper"}]] any drippers?')

    assert result["errors"] == []
    tool_parts = [part for part in result["message"]["parts"] if part["type"].startswith("tool-")]
    assert len(tool_parts) == 1
    part = tool_parts[0]
    assert part["type"] == "tool-search_products"
    assert part["state"] == "output-available"
    assert part["output"] == {"ok": True}
    assert part["providerExecuted"] is True
    assert types(result).index("tool-input-available") < types(result).index("tool-output-available")
    assert "Stoneware Pour-over Dripper" in text_of(result["message"])  # the simulator quotes the output


def test_failing_tool_is_an_error_part(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    result = chat(gateway, visitor, '[[tool:search_products {"query": "broken"}]] anything?')

    part = next(part for part in result["message"]["parts"] if part["type"] == "tool-search_products")
    assert part["state"] == "output-error"
    assert part["errorText"]
    assert types(result)[-1] == "finish"


def test_lead_is_a_data_part(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    args = '{"name": "Ann Lee", "email": "ann@example.com", "message": "Call me about a wholesale order"}'
    result = chat(gateway, visitor, f"[[tool:capture_lead {args}]] please get in touch")

    assert result["errors"] == []
    leads = [part for part in result["message"]["parts"] if part["type"] == "data-lead"]
    assert len(leads) == 1
    assert leads[0]["data"]["status"] == "saved"
    assert "ann@example.com" in leads[0]["data"]["message"]
    assert leads[0]["id"] == str(leads[0]["data"]["lead_id"])


def test_provider_failure_ends_with_an_error(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    result = chat(gateway, visitor, "[[fault:500]] hello")

    assert types(result)[0] == "start"
    assert "error" in types(result)
    assert result["errors"], "the reader reports the error"
    error = next(chunk for chunk in result["chunks"] if chunk["type"] == "error")
    assert error["errorText"]
    assert types(result)[-1] == "finish"
    assert result["chunks"][-1]["finishReason"] == "error"


def test_stop_with_the_cancel_route(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    words = " ".join(f"word{i}" for i in range(80))
    result = chat(gateway, visitor, f"[[pace:gap=100]] [[reply:{words}]]", stopAfterText=True)

    assert result["errors"] == []
    assert types(result)[-1] == "abort"
    assert "text-end" in types(result)  # the open text part is closed before the abort
    text = text_of(result["message"])
    assert text.startswith("word0") and len(text.split()) < 80
    assert result["message"]["parts"][0]["state"] == "done"


async def test_client_abort_stops_the_reply_after_the_grace(
    node_packages: Path, gateway: Gateway, visitor: str
) -> None:
    """useChat's stop() aborts the request: nobody comes back, so the reply is stopped and kept."""
    words = " ".join(f"word{i}" for i in range(300))
    result = chat(gateway, visitor, f"[[pace:gap=100]] [[reply:{words}]]", abortAfterText=True)
    assert result["errors"] and all("aborted" in error for error in result["errors"])
    history_url = f"{gateway.url}/v1/threads/{result['thread_id']}/messages"

    async def kept_reply() -> str | None:
        async with httpx.AsyncClient() as client:
            messages = (await client.get(history_url, headers=gateway.headers(visitor))).json()["messages"]
        return next((m["content"] for m in messages if m["role"] == "assistant"), None)

    reply = await eventually(kept_reply, timeout=30, interval=0.2)  # the grace is 5 s; 300 words take 30 s
    assert reply.startswith("word0") and len(reply.split()) < 300
    again = post_chat(
        gateway,
        visitor,
        {"id": result["thread_id"], "trigger": "submit-message", "messages": [user_message("[[reply:ok]]")]},
    )
    assert again.status_code == 200


def test_resume_replays_the_running_reply(node_packages: Path, gateway: Gateway, visitor: str) -> None:
    words = " ".join(f"w{i}" for i in range(30))
    thread_id = gateway.new_thread(visitor)
    headers = {**gateway.headers(visitor), "Content-Type": "application/json"}
    body = {
        "id": thread_id,
        "trigger": "submit-message",
        "messages": [user_message(f"[[pace:gap=40]] [[reply:{words}]]")],
    }
    # the first connection reads the start of the reply and drops
    with httpx.stream("POST", f"{gateway.url}/v1/ui/chat", headers=headers, json=body) as response:
        assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
        for line in response.iter_lines():
            if '"text-delta"' in line:
                break
    api = f"{gateway.url}/v1/ui/chat"
    args = {"api": api, "headers": gateway.headers(visitor), "chatId": thread_id, "resume": True}
    resumed = run_node("ui_stream.mjs", args)

    assert resumed["chunks"] is not None, "a reply was still running"
    assert text_of(resumed["message"]) == words
    assert types(resumed)[0] == "start" and types(resumed)[-1] == "finish"
    # nothing runs now: the transport gets 204 and no stream
    assert run_node("ui_stream.mjs", args)["chunks"] is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"trigger": "submit-message", "messages": "USER"}, 400, "invalid_request"),
        ({"trigger": "submit-message"}, 400, "invalid_request"),  # no messages
        ({"trigger": "submit-message", "messages": [{"role": "user", "parts": "hi"}]}, 400, "invalid_request"),
        ({"trigger": "resume-now", "messages": [{"role": "user", "parts": []}]}, 400, "invalid_request"),
        ({"trigger": "regenerate-message", "messages": [{"role": "user", "parts": []}]}, 400, "unsupported_trigger"),
        ({"trigger": "submit-message", "messages": [{"role": "assistant", "parts": []}]}, 400, "invalid_request"),
        (
            {"trigger": "submit-message", "messages": [{"role": "user", "parts": [{"type": "file"}]}]},
            400,
            "empty_message",
        ),
    ],
)
def test_bad_input_is_a_json_error(
    gateway: Gateway, visitor: str, body: dict[str, Any], status: int, code: str
) -> None:
    thread_id = gateway.new_thread(visitor)
    response = post_chat(gateway, visitor, {"id": thread_id, **body})

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_missing_and_foreign_ids(gateway: Gateway, visitor: str) -> None:
    message = {"trigger": "submit-message", "messages": [user_message("hi")]}
    missing = post_chat(gateway, visitor, message)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "invalid_request"

    # a thread of another tenant, and one of another visitor of this tenant
    created = httpx.post(f"{gateway.url}/v1/threads", headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    theirs = created.json()["thread_id"]
    someone_elses = gateway.new_thread("someone-else-1234")
    for thread_id in (theirs, someone_elses, "thr_nonexistent"):
        response = post_chat(gateway, visitor, {"id": thread_id, **message})
        assert response.status_code == 404 and response.json()["error"]["code"] == "thread_not_found"
        resume = httpx.get(f"{gateway.url}/v1/ui/chat/{thread_id}/stream", headers=gateway.headers(visitor))
        assert resume.status_code == 404 and resume.json()["error"]["code"] == "thread_not_found"


def test_unknown_origin_is_refused(gateway: Gateway, visitor: str) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/ui/chat", headers={"Origin": "https://evil.example", "X-Visitor-Id": visitor}, json={}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "unknown_origin"


def test_second_message_while_a_reply_runs_is_refused(gateway: Gateway, visitor: str) -> None:
    thread_id = gateway.new_thread(visitor)
    slow = {"id": thread_id, "trigger": "submit-message", "messages": [user_message("[[pace:ttft=3000]] [[reply:ok]]")]}
    with httpx.stream("POST", f"{gateway.url}/v1/ui/chat", headers=gateway.headers(visitor), json=slow) as running:
        assert running.status_code == 200
        second = post_chat(gateway, visitor, {**slow, "messages": [user_message("and another")]})
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "thread_busy"
        assert running.read().decode().endswith("data: [DONE]\n\n")
