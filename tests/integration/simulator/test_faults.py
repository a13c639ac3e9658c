"""Faults, from directives and from the ``/_sim/faults`` queue, as the SDK sees them."""

from __future__ import annotations

import httpx
import httpx2
import openai
import pytest

from proxy.simulator import SimulatorServer
from tests.integration.simulator.support import Control

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("429", openai.RateLimitError, "rate_limit_exceeded"),
        ("quota", openai.RateLimitError, "insufficient_quota"),
        ("500", openai.InternalServerError, None),
        ("401", openai.AuthenticationError, "invalid_api_key"),
    ],
)
async def test_http_faults_come_before_the_stream(
    client: openai.AsyncOpenAI, kind: str, error: type[openai.APIStatusError], code: str | None
) -> None:
    with pytest.raises(error) as raised:
        await client.responses.create(model="gpt-4o", input=f"hi [[fault:{kind}]]", stream=True)
    assert raised.value.code == code
    assert raised.value.body["type"] is not None  # type: ignore[index]


async def test_keys_and_models(client: openai.AsyncOpenAI, simulator: SimulatorServer) -> None:
    async with openai.AsyncOpenAI(base_url=simulator.base_url, api_key="sk-invalid-123456", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as refused:
            await bad.models.list()
    assert refused.value.code == "invalid_api_key"
    async with httpx.AsyncClient() as http:
        anonymous = await http.get(f"{simulator.base_url}/models")
    assert anonymous.status_code == 401
    assert set(anonymous.json()["error"]) == {"message", "type", "param", "code"}

    with pytest.raises(openai.NotFoundError) as unknown:
        await client.chat.completions.create(model="missing-model", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.code == "model_not_found"


async def test_cut_breaks_the_stream_without_a_terminal_event(client: openai.AsyncOpenAI, control: Control) -> None:
    stream = await client.responses.create(model="gpt-4o", input="[[fault:cut]]", stream=True)
    kinds: list[str] = []
    with pytest.raises(openai.APIConnectionError) as broken:
        async for event in stream:
            kinds.append(event.type)
    assert isinstance(broken.value.__cause__, httpx2.RemoteProtocolError)  # the SDK wraps transport errors
    assert kinds.count("response.output_text.delta") == 3
    assert "response.completed" not in kinds
    assert (await control.requests(min_ended=1))[-1]["outcome"] == "cut"

    chat = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "[[fault:cut]]"}], stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        async for _ in chat:
            pass

    with pytest.raises(openai.APIConnectionError):
        await client.responses.create(model="gpt-4o", input="[[fault:cut]]")


async def test_stall_ends_in_a_client_timeout(client: openai.AsyncOpenAI, control: Control) -> None:
    stream = await client.responses.create(model="gpt-4o", input="[[fault:stall]]", stream=True, timeout=0.5)
    kinds: list[str] = []
    with pytest.raises(openai.APITimeoutError):
        async for event in stream:
            kinds.append(event.type)
    assert kinds.count("response.output_text.delta") == 3
    await stream.close()
    log = await control.requests(min_disconnected=1)
    assert log[-1]["disconnected"] is True

    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[fault:stall]]"}], timeout=0.5
        )


async def test_failures_reported_inside_the_response(client: openai.AsyncOpenAI) -> None:
    events = [e async for e in await client.responses.create(model="gpt-4o", input="[[fault:failed]]", stream=True)]
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.code == "server_error"
    assert [e.type for e in events].count("response.output_text.delta") == 3

    limited = await client.responses.create(model="gpt-4o", input="[[fault:run_rate_limit]]")
    assert limited.status == "failed"
    assert limited.error is not None and limited.error.code == "rate_limit_exceeded"


async def test_queued_faults_hit_the_next_model_calls_in_order(
    client: openai.AsyncOpenAI, control: Control, simulator: SimulatorServer
) -> None:
    await control.queue("500", "500")
    async with openai.AsyncOpenAI(base_url=simulator.base_url, api_key="sk-retry", max_retries=2) as retrying:
        reply = await retrying.responses.create(model="gpt-4o", input="[[reply:third time lucky]]")
    assert reply.output_text == "third time lucky"
    log = await control.requests()
    assert [(entry["path"], entry["fault"]) for entry in log] == [("/v1/responses", "500")] * 2 + [
        ("/v1/responses", None)
    ]

    await control.queue("quota")
    await client.conversations.create()  # not a model call: the fault waits
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


async def test_unknown_fault_kinds_are_refused(control: Control) -> None:
    response = await control.http.post("/_sim/faults", json={"next": ["meltdown"]})
    assert response.status_code == 400
