"""The old NestJS routes, frame by frame as recorded in the seed protocol.

The seed protocol (the old service's compiled code) lists every frame it sent; the shapes below
are those, field by field and in the old key order, and nothing else may appear.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import h11
import pytest
from litestar.testing import AsyncTestClient

from proxy.app import create_app
from proxy.simulator import ServerThread
from tests.support.apps import directory, make_settings, make_tenant
from tests.support.scripted_engine import Engines, scripted_tools
from tests.support.waiting import eventually

SHOP = {"Origin": "https://shop.test"}

# every frame the old service sent, as the seed protocol records it (None: any string)
RUN_CREATED = {"event": "thread.run.created", "status": "queued"}
REQUIRES_ACTION = {"event": "thread.run.requires_action", "status": "requires_action"}
OLD_EVENTS = {
    "thread.run.created",
    "thread.message.delta",
    "thread.message.completed",
    "thread.run.requires_action",
    "system.error",
    "end",
}
MESSAGE_KEYS = [
    "id",
    "object",
    "created_at",
    "thread_id",
    "role",
    "content",
    "assistant_id",
    "run_id",
    "attachments",
    "metadata",
]


def delta(value: str) -> dict[str, Any]:
    return {
        "event": "thread.message.delta",
        "delta": {"content": [{"index": 0, "type": "text", "text": {"value": value, "annotations": []}}]},
    }


def completed(value: str) -> dict[str, Any]:
    return {
        "event": "thread.message.completed",
        "status": "completed",
        "content": [{"type": "text", "text": {"value": value, "annotations": []}}],
    }


def system_error(content: str) -> dict[str, Any]:
    return {"event": "system.error", "status": "error", "content": content}


def frames(body: str) -> list[dict[str, Any]]:
    """Old frames are bare `data: <json>\\n\\n` blocks: no `event:`, no `id:`, no comments."""
    assert body.endswith("\n\n")
    blocks = body[:-2].split("\n\n")
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks), body
    return [json.loads(block[6:]) for block in blocks]


def check_old_shapes(got: list[dict[str, Any]]) -> str:
    """Every frame is one the old service sent, with its fields in its order; returns the deltas' text."""
    assert {f["event"] for f in got} <= OLD_EVENTS, [f["event"] for f in got]
    assert "thread.run.completed" not in [f["event"] for f in got]
    text = ""
    for f in got:
        if f["event"] == "thread.message.delta":
            value = f["delta"]["content"][0]["text"]["value"]
            assert f == delta(value) and list(f) == ["event", "delta"]
            assert list(f["delta"]["content"][0]) == ["index", "type", "text"]
            text += value
        elif f["event"] == "thread.message.completed":
            assert f == completed(f["content"][0]["text"]["value"])
            assert list(f) == ["event", "status", "content"]
        elif f["event"] == "system.error":
            assert list(f) == ["event", "status", "content"] and f["status"] == "error"
        elif f["event"] == "end":
            assert list(f) == ["event", "messages"]
            assert all(list(m) == MESSAGE_KEYS and m["object"] == "thread.message" for m in f["messages"])
        else:
            assert f in (RUN_CREATED, REQUIRES_ACTION) and list(f) == ["event", "status"]
    assert [f["event"] for f in got].count("end") == 1 and got[-1]["event"] == "end"
    return text


async def create(client: AsyncTestClient) -> str:
    response = await client.get("/open-ai/create-thread", headers=SHOP)
    assert response.status_code == 200
    thread = response.json()
    assert thread["object"] == "thread" and list(thread) == ["id", "object", "created_at", "metadata", "tool_resources"]
    return str(thread["id"])


async def send(client: AsyncTestClient, thread_id: str, message: str) -> Any:
    return await client.post("/open-ai/process-message", json={"threadId": thread_id, "message": message}, headers=SHOP)


async def test_old_stream_frames(client: AsyncTestClient) -> None:
    thread_id = await create(client)
    response = await send(client, thread_id, "say:Hel lo wor ld")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["connection"] == "keep-alive"
    got = frames(response.text)
    assert check_old_shapes(got) == "Hel lo wor ld"
    assert got[0] == RUN_CREATED
    assert [f["event"] for f in got[1:-2]] == ["thread.message.delta"] * (len(got) - 3)
    assert got[-2] == completed("Hel lo wor ld")
    end = got[-1]
    assert [(m["role"], m["content"][0]["text"]["value"]) for m in end["messages"]] == [
        ("assistant", "Hel lo wor ld"),
        ("user", "say:Hel lo wor ld"),
    ]  # newest first
    assert all(m["thread_id"] == thread_id and m["content"][0]["text"]["annotations"] == [] for m in end["messages"])


async def test_end_lists_the_newest_twenty_messages(client: AsyncTestClient) -> None:
    """The old service listed the provider's first page of the thread's messages: 20, newest first."""
    thread_id = await create(client)
    for n in range(11):
        got = frames((await send(client, thread_id, f"say:reply {n}")).text)
    listed = [(m["role"], m["content"][0]["text"]["value"]) for m in got[-1]["messages"]]
    assert len(listed) == 20
    assert listed[:2] == [("assistant", "reply 10"), ("user", "say:reply 10")]
    assert listed[-1] == ("user", "say:reply 1")


async def test_old_stream_tool_round(client: AsyncTestClient) -> None:
    thread_id = await create(client)
    got = frames((await send(client, thread_id, 'tool:lookup {"word": "x"}')).text)
    check_old_shapes(got)
    # one requires_action for the round; the tool's own events have no old frame
    assert got[:2] == [RUN_CREATED, REQUIRES_ACTION]
    assert [f["event"] for f in got].count("thread.run.requires_action") == 1
    assert got[-2]["content"][0]["text"]["value"].startswith("lookup said ")


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        ("crash", 500, "internal"),
        ("refuse:upstream_unavailable", 503, "upstream_unavailable"),
        ("refuse:upstream_timeout", 504, "upstream_timeout"),
        ("refuse:upstream_auth", 502, "upstream_auth"),
    ],
)
async def test_failure_before_text_is_an_http_5xx_as_the_old_service_answered(
    client: AsyncTestClient, message: str, status: int, code: str
) -> None:
    thread_id = await create(client)
    failed = await send(client, thread_id, message)
    assert failed.status_code == status
    assert failed.headers["content-type"].startswith("application/json")
    assert failed.json()["error"]["code"] == code
    # the thread is free again at once: the next message is answered
    again = await send(client, thread_id, "say:fine")
    assert again.status_code == 200
    assert frames(again.text)[-2] == completed("fine")


async def test_failure_after_text_ends_with_system_error_then_end(client: AsyncTestClient) -> None:
    thread_id = await create(client)
    response = await send(client, thread_id, "fail:upstream_stream_cut")
    assert response.status_code == 200
    got = frames(response.text)
    assert check_old_shapes(got) == "partial "
    assert got[-2] == system_error("scripted failure upstream_stream_cut")
    assert got[-1]["event"] == "end"
    assert got[-1]["messages"][0]["content"][0]["text"]["value"] == "partial "  # what was said is kept


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


# -- over real TCP -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tcp_engines() -> Engines:
    return Engines()


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory, tcp_engines: Engines) -> Iterator[ServerThread]:
    tenants = directory(make_tenant("shop", ["shop.test"], tools=["lookup"]))
    settings = make_settings(pg_url, Path(tmp_path_factory.mktemp("compat")))
    app = create_app(settings, tenants=tenants, tools=scripted_tools(), engine_factory=tcp_engines.factory)
    with ServerThread(app) as running:
        yield running


class RawExchange:
    """One HTTP/1.1 request on its own socket, read with h11: the response's body chunk by chunk.

    Each chunk of a chunked body is one write of the server (one ASGI ``http.response.body``),
    however TCP happened to split or join them on the way.
    """

    def __init__(self, server: ServerThread, method: str, target: str, body: dict[str, Any] | None = None) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=15)
        self.conn = h11.Connection(h11.CLIENT)
        data = json.dumps(body).encode() if body is not None else b""
        headers = [("Host", f"{server.host}:{server.port}"), ("Origin", SHOP["Origin"])]
        if body is not None:
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        self._send(h11.Request(method=method, target=target, headers=headers))
        if data:
            self._send(h11.Data(data=data))
        self._send(h11.EndOfMessage())

    def _send(self, event: Any) -> None:
        self.sock.sendall(self.conn.send(event) or b"")

    def _next(self) -> Any:
        while (event := self.conn.next_event()) is h11.NEED_DATA:
            self.conn.receive_data(self.sock.recv(65536))
        return event

    def response(self) -> h11.Response:
        event = self._next()
        assert isinstance(event, h11.Response), event
        return event

    def chunks(self) -> list[bytes]:
        chunks, current = [], b""
        while not isinstance(event := self._next(), h11.EndOfMessage):
            assert isinstance(event, h11.Data), event
            current += event.data
            if event.chunk_end:
                chunks.append(current)
                current = b""
        return [*chunks, current] if current else chunks  # a body with Content-Length: one piece

    def close(self) -> None:
        self.sock.close()


def new_thread(server: ServerThread) -> str:
    exchange = RawExchange(server, "GET", "/open-ai/create-thread")
    try:
        assert exchange.response().status_code == 200
        return str(json.loads(b"".join(exchange.chunks()))["id"])
    finally:
        exchange.close()


def test_every_frame_is_its_own_write(server: ServerThread) -> None:
    thread_id = new_thread(server)
    for message in ("say:" + " ".join(f"w{i}" for i in range(30)), 'tool:lookup {"word": "y"}'):
        exchange = RawExchange(server, "POST", "/open-ai/process-message", {"threadId": thread_id, "message": message})
        try:
            response = exchange.response()
            assert response.status_code == 200
            assert (b"transfer-encoding", b"chunked") in response.headers
            chunks = exchange.chunks()
        finally:
            exchange.close()
        # each chunk is exactly one frame: no two frames in one write, no frame across two
        assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") and c.count(b"\n\n") == 1 for c in chunks)
        got = [json.loads(c[6:]) for c in chunks]
        text = check_old_shapes(got)
        assert got[-2] == completed(text)


def post_message(server: ServerThread, thread_id: str, message: str) -> tuple[int, list[bytes]]:
    exchange = RawExchange(server, "POST", "/open-ai/process-message", {"threadId": thread_id, "message": message})
    try:
        return exchange.response().status_code, exchange.chunks()
    finally:
        exchange.close()


async def test_a_visitor_who_leaves_before_any_text_stops_the_reply(server: ServerThread, tcp_engines: Engines) -> None:
    thread_id = await anyio.to_thread.run_sync(new_thread, server)
    body = {"threadId": thread_id, "message": "hold:left"}
    exchange = await anyio.to_thread.run_sync(lambda: RawExchange(server, "POST", "/open-ai/process-message", body))
    engine = tcp_engines["shop"]
    cancelled_before = len(engine.cancelled)

    async def holding() -> bool:
        return "left" in engine.holding

    async def cancelled() -> bool:
        return len(engine.cancelled) > cancelled_before

    await eventually(holding)
    exchange.close()  # gone before the provider said anything: nobody will read this reply
    await eventually(cancelled)

    async def answered() -> list[bytes] | None:
        status, chunks = await anyio.to_thread.run_sync(post_message, server, thread_id, "say:ok")
        assert status in (200, 409)  # 409 only until the stopped turn has released the thread
        return chunks if status == 200 else None

    got = [json.loads(c[6:]) for c in await eventually(answered)]
    assert got[-2] == completed("ok")
