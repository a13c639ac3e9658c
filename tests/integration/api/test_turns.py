"""A turn over the v1 API with a scripted engine: events, history, tools, errors, bad input."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from tests.support.apps import sse_events

SHOP = {"Origin": "https://shop.test"}


async def new_thread(client: AsyncTestClient, headers: dict[str, str] = SHOP) -> str:
    return (await client.post("/v1/threads", headers=headers)).json()["thread_id"]


async def send(client: AsyncTestClient, thread_id: str, content: object, headers: dict[str, str] = SHOP):
    return await client.post(f"/v1/threads/{thread_id}/messages", json={"content": content}, headers=headers)


async def test_reply_streams_neutral_events_with_ids(client: AsyncTestClient) -> None:
    thread_id = await new_thread(client)
    response = await send(client, thread_id, "say:hello there friend")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    events = sse_events(response.text)
    names = [name for name, _, _ in events]
    assert names == ["run.started"] + ["message.delta"] * 3 + ["message.completed", "run.completed", "done"]
    run_id = events[0][1]["run_id"]
    assert events[0][1] == {"thread_id": thread_id, "run_id": run_id}
    assert [event_id for _, _, event_id in events] == [f"{run_id}:{i}" for i in range(1, len(events) + 1)]
    assert "".join(data["delta"] for name, data, _ in events if name == "message.delta") == "hello there friend"
    assert events[4][1]["content"] == "hello there friend"
    assert events[5][1]["usage"] == {"input_tokens": 3, "output_tokens": 3}


async def test_history_is_kept_oldest_first(client: AsyncTestClient) -> None:
    thread_id = await new_thread(client)
    await send(client, thread_id, "say:one")
    await send(client, thread_id, "say:two")
    history = (await client.get(f"/v1/threads/{thread_id}/messages", headers=SHOP)).json()
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", "say:one"),
        ("assistant", "one"),
        ("user", "say:two"),
        ("assistant", "two"),
    ]


async def test_engine_gets_conversation_and_tool_context(client: AsyncTestClient, engines) -> None:
    thread_id = await new_thread(client, {**SHOP, "X-Visitor-Id": "visitor-ctx-1"})
    await send(client, thread_id, "say:a", {**SHOP, "X-Visitor-Id": "visitor-ctx-1"})
    await send(client, thread_id, "say:b", {**SHOP, "X-Visitor-Id": "visitor-ctx-1"})
    first, second = engines["shop"].turns[-2:]
    assert first.conversation_id == second.conversation_id is not None  # created once, then reused
    assert second.tool_context.tenant == "shop"
    assert second.tool_context.thread_id == thread_id
    assert second.tool_context.visitor.id == "v:visitor-ctx-1"


async def test_tool_call_events_and_error_output(client: AsyncTestClient) -> None:
    thread_id = await new_thread(client)
    ok = sse_events((await send(client, thread_id, 'tool:lookup {"word": "cat"}')).text)
    started = next(d for n, d, _ in ok if n == "tool.started")
    finished = next(d for n, d, _ in ok if n == "tool.finished")
    assert (started["name"], finished["ok"]) == ("lookup", True)
    assert '"word":"cat"' in next(d for n, d, _ in ok if n == "message.completed")["content"]

    failed = sse_events((await send(client, thread_id, 'tool:lookup {"word": "boom"}')).text)
    assert next(d for n, d, _ in failed if n == "tool.finished")["ok"] is False
    assert "the dictionary is closed" in next(d for n, d, _ in failed if n == "message.completed")["content"]
    assert failed[-1][0] == "done"


@pytest.mark.parametrize(
    ("content", "code", "retryable"),
    [("fail:upstream_rate_limited", "upstream_rate_limited", True), ("crash", "internal", True)],
)
async def test_failures_end_with_error_then_done(
    client: AsyncTestClient, content: str, code: str, retryable: bool
) -> None:
    thread_id = await new_thread(client)
    events = sse_events((await send(client, thread_id, content)).text)
    assert [n for n, _, _ in events][-2:] == ["error", "done"]
    error = events[-2][1]
    assert (error["code"], error["retryable"]) == (code, retryable)
    assert error["message"]
    # the lock was released: the next message is served
    assert sse_events((await send(client, thread_id, "say:again")).text)[-1][0] == "done"


async def test_partial_reply_kept_after_failure(client: AsyncTestClient) -> None:
    thread_id = await new_thread(client)
    await send(client, thread_id, "fail:upstream_stream_cut")
    history = (await client.get(f"/v1/threads/{thread_id}/messages", headers=SHOP)).json()["messages"]
    assert history[-1] == {**history[-1], "role": "assistant", "content": "partial "}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content": ""}, 400, "empty_message"),
        ({"content": "   \n "}, 400, "empty_message"),
        ({"content": "x" * 201}, 413, "message_too_long"),
        ({"content": 5}, 400, "invalid_request"),
        ({"content": None}, 400, "invalid_request"),
        ({}, 400, "invalid_request"),
        ({"content": "hi", "extra": 1}, 400, "invalid_request"),
        ([1, 2], 400, "invalid_request"),
    ],
)
async def test_bad_message_bodies(client: AsyncTestClient, body: object, status: int, code: str) -> None:
    thread_id = await new_thread(client)
    response = await client.post(f"/v1/threads/{thread_id}/messages", json=body, headers=SHOP)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


@pytest.mark.parametrize("route", ["v1", "old"])
async def test_an_empty_body_is_said_to_be_required(client: AsyncTestClient, route: str) -> None:
    url = f"/v1/threads/{await new_thread(client)}/messages" if route == "v1" else "/open-ai/process-message"
    response = await client.post(url, content=b"", headers={**SHOP, "Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"] == [{"message": "A JSON body is required.", "key": "body", "source": "body"}]


async def test_non_json_and_huge_bodies(client: AsyncTestClient) -> None:
    thread_id = await new_thread(client)
    url = f"/v1/threads/{thread_id}/messages"
    not_json = await client.post(url, content=b"content=hello", headers={**SHOP, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "invalid_request"
    huge = await client.post(url, content=b'{"content": "' + b"x" * 10_000 + b'"}', headers=SHOP)
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"


async def test_unknown_thread_is_404(client: AsyncTestClient) -> None:
    response = await send(client, "thr_doesnotexist", "say:hi")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "thread_not_found"


async def test_delete_thread(client: AsyncTestClient) -> None:
    thread_id = await new_thread(client)
    await send(client, thread_id, "say:bye")
    assert (await client.delete(f"/v1/threads/{thread_id}", headers=SHOP)).status_code == 204
    assert (await client.get(f"/v1/threads/{thread_id}/messages", headers=SHOP)).status_code == 404
    assert (await client.delete(f"/v1/threads/{thread_id}", headers=SHOP)).status_code == 404
