"""The ``/_sim`` side door: request log, reset."""

from __future__ import annotations

import openai
import pytest

from tests.integration.simulator.support import Control

pytestmark = pytest.mark.integration


async def test_the_log_keeps_method_path_body_key_and_stream_outcome(
    client: openai.AsyncOpenAI, control: Control
) -> None:
    await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    stream = await client.responses.create(model="gpt-4o", input="streamed", stream=True)
    async for _ in stream:
        pass

    log = await control.requests(min_ended=1)
    assert [(e["method"], e["path"], e["api_key"], e["stream"]) for e in log] == [
        ("POST", "/v1/chat/completions", "sk-test", False),
        ("POST", "/v1/responses", "sk-test", True),
    ]
    assert log[0]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert log[0]["disconnected"] is None
    assert log[1]["body"]["input"] == "streamed"
    assert (log[1]["outcome"], log[1]["disconnected"]) == ("completed", False)


async def test_rejected_requests_are_logged_too(simulator: object, control: Control) -> None:
    response = await control.http.post("/v1/chat/completions", json={"model": "gpt-4o"})
    assert response.status_code == 401
    assert (await control.requests())[-1]["api_key"] is None

    response = await control.http.post(
        "/v1/chat/completions", content=b"{not json", headers={"Authorization": "Bearer sk-test"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert (await control.requests())[-1]["body"] == "{not json"


async def test_reset_forgets_objects_and_the_log(client: openai.AsyncOpenAI, control: Control) -> None:
    conversation = await client.conversations.create()
    await control.queue("500")
    (await control.http.post("/_sim/faults", json={"deletes": ["500"]})).raise_for_status()
    await control.reset()
    assert await control.requests() == []
    assert (await control.http.get("/_sim/faults")).json() == {"pending": [], "deletes": []}
    with pytest.raises(openai.NotFoundError):
        await client.conversations.retrieve(conversation.id)


async def test_waiting_for_the_log_times_out_honestly(control: Control) -> None:
    response = await control.http.get("/_sim/requests", params={"min_count": 1, "timeout": 0.01})
    assert response.json() == {"requests": [], "satisfied": False}


async def test_queued_delete_faults_fail_the_next_deletes_of_conversations_and_threads(
    client: openai.AsyncOpenAI, control: Control
) -> None:
    await control.reset()
    conversation = await client.conversations.create()
    thread = await client.beta.threads.create()
    queued = await control.http.post("/_sim/faults", json={"deletes": ["500", "429"]})
    assert queued.json() == {"pending": [], "deletes": ["500", "429"]}

    with pytest.raises(openai.InternalServerError):
        await client.conversations.delete(conversation.id)
    with pytest.raises(openai.RateLimitError):
        await client.beta.threads.delete(thread.id)
    assert (await client.conversations.delete(conversation.id)).deleted
    assert (await client.beta.threads.delete(thread.id)).deleted
    assert (await control.http.get("/_sim/faults")).json() == {"pending": [], "deletes": []}


@pytest.mark.parametrize("body", [{"deletes": ["cut"]}, {"deletes": "500"}, {"other": []}])
async def test_delete_faults_are_http_kinds_only(control: Control, body: dict[str, object]) -> None:
    response = await control.http.post("/_sim/faults", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_a_refused_fault_body_queues_nothing(control: Control) -> None:
    await control.reset()
    response = await control.http.post("/_sim/faults", json={"next": ["500"], "deletes": ["cut"]})

    assert response.status_code == 400
    assert (await control.http.get("/_sim/faults")).json() == {"pending": [], "deletes": []}
