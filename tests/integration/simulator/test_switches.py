"""Switching the Conversations API and stored responses off, to stand in for servers without them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from proxy.simulator import SimulatorConfig, SimulatorServer

pytestmark = pytest.mark.integration

KEY = {"Authorization": "Bearer sk-sim"}


@pytest.fixture(scope="module")
def bare() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(conversations_api=False, store_responses=False)) as sim:
        yield sim


@pytest.fixture(scope="module")
def full() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


@pytest.fixture
async def http_bare(bare: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bare.base_url, headers=KEY, timeout=10) as http:
        yield http


async def respond(http: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await http.post("/responses", json={"model": "gpt-4.1-mini", "input": "Hello", **body})


@pytest.mark.parametrize(("method", "path"), [("POST", "/conversations"), ("GET", "/conversations/conv_1/items")])
async def test_without_conversations_they_are_not_found_as_on_litellm(
    http_bare: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await http_bare.request(method, path, json={} if method == "POST" else None)
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})


async def test_without_a_store_responses_are_neither_found_nor_chained(http_bare: httpx.AsyncClient) -> None:
    created = await respond(http_bare, store=True)
    assert created.status_code == 200 and created.json()["store"] is False
    response_id = created.json()["id"]

    found = await http_bare.get(f"/responses/{response_id}")
    chained = await respond(http_bare, previous_response_id=response_id)

    assert found.status_code == 404
    assert chained.status_code == 404
    assert chained.json()["error"]["code"] == "previous_response_not_found"
    assert chained.json()["error"]["param"] == "previous_response_id"


async def test_with_the_store_a_response_asked_not_to_be_stored_is_not(full: SimulatorServer) -> None:
    async with httpx.AsyncClient(base_url=full.base_url, headers=KEY, timeout=10) as http:
        kept = (await respond(http)).json()
        unkept = (await respond(http, store=False)).json()

        assert (kept["store"], unkept["store"]) == (True, False)
        assert (await http.get(f"/responses/{kept['id']}")).status_code == 200
        assert (await http.get(f"/responses/{unkept['id']}")).status_code == 404
        assert (await respond(http, previous_response_id=kept["id"])).status_code == 200
