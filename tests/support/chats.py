"""Chatting with a running proxy over HTTP as the widget does, and reading what the simulator's model saw."""

from __future__ import annotations

import json
from typing import Any

import httpx

from proxy.simulator import SimulatorServer
from tests.support.apps import sse_events
from tests.support.waiting import eventually

Events = list[tuple[str, dict[str, Any], str | None]]


def client_for(base_url: str, host: str) -> httpx.AsyncClient:
    """A client calling as a page on ``https://{host}``."""
    return httpx.AsyncClient(base_url=base_url, headers={"Origin": f"https://{host}"}, timeout=30)


async def new_thread(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/threads")
    assert response.status_code == 201, response.text
    return str(response.json()["thread_id"])


async def turn(http: httpx.AsyncClient, thread_id: str, content: str) -> Events:
    response = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": content})
    assert response.status_code == 200, response.text
    return sse_events(response.text)


async def stopped_turn(http: httpx.AsyncClient, thread_id: str, content: str) -> Events:
    """Send ``content``, press Stop at the first text, and read the stream to its end."""
    body = ""
    async with http.stream("POST", f"/v1/threads/{thread_id}/messages", json={"content": content}) as stream:
        assert stream.status_code == 200
        stopped = False
        async for chunk in stream.aiter_text():
            body += chunk
            if not stopped and "event: message.delta" in body:
                run_id = next(data["run_id"] for name, data, _ in sse_events(body) if name == "run.started")
                answer = await http.post(f"/v1/threads/{thread_id}/runs/{run_id}/cancel")
                assert answer.status_code == 202, answer.text
                stopped = True
    return sse_events(body)


async def stalls_ended(sim: SimulatorServer) -> None:
    """Wait until the simulator has seen every stalled stream end (the proxy let go of it)."""

    async def ended() -> bool:
        return all(e.outcome is not None for e in sim.state.log.entries() if e.fault == "stall")

    await eventually(ended)


def names(events: Events) -> list[str]:
    return [name for name, _, _ in events]


def text_of(events: Events) -> str:
    return "".join(data["delta"] for name, data, _ in events if name == "message.delta")


def error_of(events: Events) -> dict[str, Any]:
    assert names(events)[-2:] == ["error", "done"], names(events)
    return events[-2][1]


def model_request(sim: SimulatorServer, marker: str) -> tuple[str, dict[str, Any]]:
    """The last model request (path, body) to ``sim`` that carried ``marker`` in its new input."""
    for entry in reversed(sim.state.log.entries()):
        body = entry.body
        if entry.method == "POST" and isinstance(body, dict) and marker in json.dumps(body):
            return entry.path, body
    raise AssertionError(f"no request to the simulator carried {marker!r}")


def seen_by_model(sim: SimulatorServer, marker: str) -> str:
    """Everything the simulated model had before it with the request that carried ``marker``.

    The request's own messages or input, plus what the provider kept for it: the conversation's
    items, the chain of earlier responses, or the Assistants thread.
    """
    path, body = model_request(sim, marker)
    state = sim.state
    if path.endswith("/chat/completions"):
        return json.dumps(body["messages"])
    if path.endswith("/responses"):
        seen: list[Any] = [body.get("input")]
        if conversation := body.get("conversation"):
            seen.append(state.conversations[conversation].items)
        if previous := body.get("previous_response_id"):
            seen.append(state.responses[previous].transcript())
        return json.dumps(seen)
    if "/threads/" in path and path.endswith("/messages"):  # the Assistants API: the thread holds it
        return json.dumps(state.threads[path.split("/")[3]].messages)
    raise AssertionError(f"not a model request: {path}")


def context_way(sim: SimulatorServer, marker: str) -> str:
    """How the request that carried ``marker`` gave the Responses API its context."""
    _, body = model_request(sim, marker)
    if body.get("conversation"):
        return "conversations"
    if body.get("previous_response_id"):
        return "previous_response"
    return "history"
