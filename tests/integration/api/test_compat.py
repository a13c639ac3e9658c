"""The old NestJS routes, frame by frame as recorded in the seed protocol."""

from __future__ import annotations

import json

from litestar.testing import AsyncTestClient

SHOP = {"Origin": "https://shop.test"}


def frames(body: str) -> list[dict]:
    """Old frames are bare `data: <json>\\n\\n` blocks: no `event:`, no `id:`, no comments."""
    assert body.endswith("\n\n")
    blocks = body[:-2].split("\n\n")
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks), body
    return [json.loads(block[6:]) for block in blocks]


async def create(client: AsyncTestClient) -> str:
    response = await client.get("/open-ai/create-thread", headers=SHOP)
    assert response.status_code == 200
    thread = response.json()
    assert thread["object"] == "thread"
    return thread["id"]


async def test_old_stream_frames(client: AsyncTestClient) -> None:
    thread_id = await create(client)
    response = await client.post(
        "/open-ai/process-message", json={"threadId": thread_id, "message": "say:Hel lo"}, headers=SHOP
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["connection"] == "keep-alive"
    got = frames(response.text)
    assert got[0] == {"event": "thread.run.created", "status": "queued"}
    assert got[1] == {
        "event": "thread.message.delta",
        "delta": {"content": [{"index": 0, "type": "text", "text": {"value": "Hel ", "annotations": []}}]},
    }
    assert got[3] == {
        "event": "thread.message.completed",
        "status": "completed",
        "content": [{"type": "text", "text": {"value": "Hel lo", "annotations": []}}],
    }
    assert list(got[3]) == ["event", "status", "content"]  # the old key order
    end = got[-1]
    assert list(end) == ["event", "messages"] and end["event"] == "end"
    assert [(m["role"], m["content"][0]["text"]["value"]) for m in end["messages"]] == [
        ("assistant", "Hel lo"),
        ("user", "say:Hel lo"),
    ]  # newest first
    assert all(m["object"] == "thread.message" and m["thread_id"] == thread_id for m in end["messages"])


async def test_old_stream_tool_round_and_failure(client: AsyncTestClient) -> None:
    thread_id = await create(client)
    body = {"threadId": thread_id, "message": 'tool:lookup {"word": "x"}'}
    got = frames((await client.post("/open-ai/process-message", json=body, headers=SHOP)).text)
    assert {"event": "thread.run.requires_action", "status": "requires_action"} in got
    failed = frames(
        (
            await client.post(
                "/open-ai/process-message", json={"threadId": thread_id, "message": "crash"}, headers=SHOP
            )
        ).text
    )
    # unlike the old service, a failure is reported and the stream still ends
    assert failed[-2] == {"event": "system.error", "status": "error", "content": "The assistant failed unexpectedly."}
    assert failed[-1]["event"] == "end"


async def test_old_routes_keep_access_rules(client: AsyncTestClient) -> None:
    assert (await client.get("/open-ai/create-thread")).status_code == 401
    assert (await client.get("/open-ai/create-thread", headers={"Origin": "https://evil.test"})).status_code == 403
    thread_id = await create(client)
    other = await client.post(
        "/open-ai/process-message",
        json={"threadId": thread_id, "message": "hi"},
        headers={"Origin": "https://other.test"},
    )
    assert other.status_code == 404
    missing = await client.post("/open-ai/process-message", json={"message": "hi"}, headers=SHOP)
    assert missing.status_code == 400
