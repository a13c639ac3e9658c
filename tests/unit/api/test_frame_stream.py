"""The SSE response written by the request's own task: same bytes, and a client that leaves ends it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, get, post
from litestar.datastructures import ResponseHeader
from litestar.response import Stream
from litestar.response.streaming import ASGIStreamingResponse
from litestar.testing import AsyncTestClient

from proxy.api.sse import SSE_HEADERS, event_stream, v1_frames
from proxy.turns.events import Event


@get("/short", media_type="text/event-stream")
async def short() -> Any:
    async def three() -> AsyncIterator[bytes]:
        for n in range(3):
            yield f"data: {n}\n\n".encode()

    return event_stream(three())


async def test_the_frames_arrive_as_written_with_the_sse_headers() -> None:
    async with AsyncTestClient(Litestar([short])) as client:
        response = await client.get("/short")
    assert response.status_code == 200
    assert response.content == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"


async def test_a_client_that_leaves_a_quiet_stream_closes_its_frames_at_once() -> None:
    closed: list[str] = []
    waiting = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b"data: 0\n\n"
            waiting.set()
            await asyncio.Event().wait()  # a quiet run: only a disconnect ends this response
        finally:
            closed.append("closed")

    response = event_stream(frames()).to_asgi_response(app=None, request=None)  # type: ignore[arg-type]
    sent: list[dict[str, Any]] = []
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    writing = asyncio.ensure_future(response({"type": "http"}, receive, send))  # type: ignore[arg-type]
    await waiting.wait()
    assert not writing.done() and closed == []
    gone.set()
    await asyncio.wait_for(writing, 30)  # the bound only keeps a broken response from hanging the test
    assert closed == ["closed"]  # the generator was closed (it detaches from the run there)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"data: 0\n\n"


async def test_the_chunk_with_the_run_s_done_ends_the_body_in_the_same_write() -> None:
    finished: list[str] = []

    async def batches() -> AsyncIterator[list[Event] | None]:
        try:
            yield [Event.make("run_1", 1, "run.started", {"run_id": "run_1"})]
            yield None  # quiet for a heartbeat
            yield [
                Event.make("run_1", 2, "message.delta", {"message_id": "m", "delta": "é"}),
                Event.make("run_1", 3, "done", {}),
            ]
            finished.append("to the end")  # the reader runs on to its end, not closed in the middle
        finally:
            finished.append("closed")

    response = event_stream(v1_frames(batches())).to_asgi_response(app=None, request=None)  # type: ignore[arg-type]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client stays
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await response({"type": "http"}, receive, send)  # type: ignore[arg-type]
    bodies = [(m["body"], m["more_body"]) for m in sent[1:]]
    assert bodies == [
        (b'id: run_1:1\r\nevent: run.started\r\ndata: {"run_id":"run_1"}\r\n\r\n', True),
        (b": ping\r\n\r\n", True),
        (
            'id: run_1:2\r\nevent: message.delta\r\ndata: {"message_id":"m","delta":"é"}\r\n\r\n'.encode()
            + b"id: run_1:3\r\nevent: done\r\ndata: {}\r\n\r\n",
            False,
        ),
    ]
    assert finished == ["to the end", "closed"]


async def _frames() -> AsyncIterator[bytes]:
    yield b"data: 1\n\n"
    yield b"data: 2\n\n"


def _located(stream: Stream) -> Stream:
    stream.headers["Location"] = "/v1/threads/thr_1"
    return stream


@post("/ours", status_code=201)
async def ours() -> Any:
    return _located(event_stream(_frames()))


# Litestar's own ``Stream`` takes the route's media type before its own: here both are the same
@post("/litestars", status_code=201, media_type="text/event-stream")
async def litestars() -> Any:
    return _located(Stream(_frames(), media_type="text/event-stream", headers=dict(SSE_HEADERS)))


@post("/ours-with-route-headers", status_code=201, response_headers=[ResponseHeader(name="X-Route", value="1")])
async def ours_with_route_headers() -> Any:
    return _located(event_stream(_frames()))


@post(
    "/litestars-with-route-headers",
    status_code=201,
    media_type="text/event-stream",
    response_headers=[ResponseHeader(name="X-Route", value="1")],
)
async def litestars_with_route_headers() -> Any:
    return _located(Stream(_frames(), media_type="text/event-stream", headers=dict(SSE_HEADERS)))


async def test_the_response_is_litestars_own_status_headers_and_body() -> None:
    async with AsyncTestClient(
        Litestar([ours, litestars, ours_with_route_headers, litestars_with_route_headers])
    ) as client:
        for path in ("/ours", "/ours-with-route-headers"):
            mine, theirs = await client.post(path), await client.post(path.replace("ours", "litestars"))
            assert (mine.status_code, mine.headers.multi_items(), mine.content) == (
                theirs.status_code,
                theirs.headers.multi_items(),
                theirs.content,
            )
            assert mine.status_code == 201 and mine.headers["location"] == "/v1/threads/thr_1"
            assert mine.content == b"data: 1\n\ndata: 2\n\n"
    assert ("x-route", "1") in mine.headers.multi_items()  # the route's headers kept (Litestar's way)


def test_a_response_the_route_adds_nothing_to_is_made_directly() -> None:
    direct = event_stream(_frames()).to_asgi_response(app=None, request=None, status_code=201)  # type: ignore[arg-type]
    through = Stream(_frames(), media_type="text/event-stream", headers=dict(SSE_HEADERS)).to_asgi_response(
        app=None,
        request=None,  # type: ignore[arg-type]
        status_code=201,
    )
    assert isinstance(direct, ASGIStreamingResponse)
    assert (direct.status_code, direct.encode_headers()) == (through.status_code, through.encode_headers())
