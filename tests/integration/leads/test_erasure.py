"""Export and erasure of a person's data over the real service (uvicorn), Postgres and the simulator.

After erasing an email no table holds it nor the person's message text; the simulator received
the deletions of the provider-side copies; the export before it held everything the tables had.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from proxy.app import create_app
from proxy.simulator import ServerThread, SimulatorServer
from proxy.store.db import Database
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.cli import run_main

KEYS = {"responses": "ck_erase_responses", "assistants": "ck_erase_assistants"}


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as sim:
        yield sim


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorServer) -> Iterator[ServerThread]:
    tenants = directory(
        *(
            make_tenant(
                f"erase-{engine}",
                [f"erase-{engine}.test"],
                engine=engine,
                base_url=simulator.base_url,
                client_keys=(KEYS[engine],),
                tools=["capture_lead", "escalate_to_human"],
                lead_recipients=["sales@shop.test"],
                **({"context": "conversations"} if engine == "responses" else {}),
            )
            for engine in KEYS
        )
    )
    settings = make_settings(pg_url, Path(tmp_path_factory.mktemp("erase")), provider_max_retries=0)
    with ServerThread(create_app(settings, tenants=tenants)) as running:
        yield running


@pytest.fixture
async def sim_http(simulator: SimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulator.root_url, timeout=10) as client:
        yield client


async def chat(server: ServerThread, tenant: str, visitor: str, *texts: str) -> str:
    headers = {"Origin": f"https://{tenant}.test", "X-Visitor-Id": visitor}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        thread_id: str = (await http.post("/v1/threads")).json()["thread_id"]
        for text in texts:
            reply = await http.post(f"/v1/threads/{thread_id}/messages", json={"content": text})
            names = [name for name, _, _ in sse_events(reply.text)]
            assert names[-1] == "done" and "error" not in names, reply.text
    return thread_id


def lead_call(email: str, words: str) -> str:
    args = {"name": "Erin Example", "email": email, "message": words, "consent": True}
    return f"[[tool:capture_lead {json.dumps(args)}]]"


async def rows_mentioning(db: Database, *needles: str) -> dict[str, int]:
    """Rows of every table of ours whose text holds any of the needles."""
    tables = await db.fetch_all(
        "select table_name from information_schema.tables where table_schema = current_schema()"
        " and table_type = 'BASE TABLE'"
    )
    found: dict[str, int] = {}
    for row in tables:
        name = row["table_name"]
        for needle in needles:
            hit = await db.fetch_one(f'select count(*) as n from "{name}" t where t::text ilike %s', (f"%{needle}%",))
            if hit and hit["n"]:
                found[f"{name}:{needle}"] = hit["n"]
    return found


@pytest.mark.parametrize("engine", list(KEYS))
async def test_export_then_erase_by_email(
    server: ServerThread, sim_http: httpx.AsyncClient, database: Database, engine: str
) -> None:
    tenant = f"erase-{engine}"
    tag = uuid.uuid4().hex[:10]
    email = f"erin.{tag}@example.org"
    secret_words = f"my allergy is walnut-{tag}"
    visitor = f"erin-browser-{tag}"
    first = await chat(server, tenant, visitor, f"Hello, {secret_words}", lead_call(email, f"call me {tag}"))
    second = await chat(server, tenant, visitor, '[[tool:escalate_to_human {"reason": "wants a person"}]]')
    bystander = await chat(server, tenant, f"bob-browser-{tag}", f"bob asks {tag}-bob")
    admin = {"Authorization": f"Bearer {KEYS[engine]}"}
    provider_ids = {
        r["id"]: r["provider_id"]
        for r in await database.fetch_all("select id, provider_id from threads where id = any(%s)", ([first, second],))
    }
    assert all(provider_ids.values())

    async with httpx.AsyncClient(base_url=server.url, headers=admin, timeout=30) as http:
        # the export by email finds the lead's conversation and the others of the browser it was given in
        by_email = (await http.get("/v1/admin/people/export", params={"email": email.upper()})).json()
        assert sorted(c["thread_id"] for c in by_email["conversations"]) == sorted([first, second])
        by_visitor = (await http.get("/v1/admin/people/export", params={"visitor_id": visitor})).json()
        assert by_visitor["conversations"] == by_email["conversations"]
        # ... and holds everything the tables hold about it
        messages = await database.fetch_all(
            "select thread_id, content from messages where thread_id = any(%s) order by id", ([first, second],)
        )
        exported = [(c["thread_id"], m["content"]) for c in by_email["conversations"] for m in c["messages"]]
        assert sorted(exported) == sorted((m["thread_id"], m["content"]) for m in messages)
        assert any(secret_words in text for _, text in exported)
        leads = await database.fetch_all(
            "select id, email from leads where tenant = %s and email = %s", (tenant, email)
        )
        assert [(lead["id"], lead["email"]) for lead in by_email["leads"]] == [(r["id"], r["email"]) for r in leads]
        handoffs = await database.fetch_all("select id from handoffs where thread_id = %s", (second,))
        assert [h["id"] for h in by_email["handoffs"]] == [h["id"] for h in handoffs] != []
        pending = await database.fetch_all(
            "select id from outbox where lead_id = any(%s) or handoff_id = any(%s) order by id",
            ([r["id"] for r in leads], [h["id"] for h in handoffs]),
        )
        assert [o["id"] for o in by_email["unsent_notifications"]] == [o["id"] for o in pending] != []
        rows_before = await rows_mentioning(database, email, secret_words)
        assert "messages:" + secret_words in rows_before

        erased = await http.post("/v1/admin/people/erase", json={"email": email})
        assert erased.status_code == 200, erased.text
        result = erased.json()
        assert result["erased"]["conversations"] == 2 and result["erased"]["leads"] == 1
        assert result["erased"]["handoffs"] == 1 and result["provider_copies_pending"] == 0
        # nothing is left under the visitor id either
        again = (await http.post("/v1/admin/people/erase", json={"visitor_id": visitor})).json()
        assert again["erased"]["conversations"] == 0

        assert await rows_mentioning(database, email, secret_words, f"call me {tag}") == {}
        assert (await http.get("/v1/admin/people/export", params={"visitor_id": visitor})).json()["conversations"] == []
        audit = (await http.get("/v1/admin/people/erasures")).json()["erasures"]
        assert audit[0]["id"] == again["audit_id"] and audit[1]["id"] == result["audit_id"]
        assert audit[1]["subject_kind"] == "email" and audit[1]["erased"]["messages"] == len(messages)
        assert email not in json.dumps(audit) and secret_words not in json.dumps(audit)

    # the bystander is untouched
    assert await database.fetch_one("select 1 from threads where id = %s", (bystander,)) is not None
    # the simulator was asked to delete each provider-side copy
    logged = (await sim_http.get("/_sim/requests")).json()["requests"]
    deletes = {r["path"] for r in logged if r["method"] == "DELETE"}
    prefix = "/v1/conversations/" if engine == "responses" else "/v1/threads/"
    for provider_id in provider_ids.values():
        assert prefix + provider_id in deletes


async def test_admin_api_refuses_without_client_key_and_bad_subjects(server: ServerThread) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        by_origin = await http.post(
            "/v1/admin/people/erase", json={"email": "a@b.c"}, headers={"Origin": "https://erase-responses.test"}
        )
        assert by_origin.status_code == 403 and by_origin.json()["error"]["code"] == "client_key_required"
        admin = {"Authorization": f"Bearer {KEYS['responses']}"}
        for body in ({}, {"email": "a@b.c", "user_id": "u1"}, {"email": "nope"}, {"phone": "1"}):
            bad = await http.post("/v1/admin/people/erase", json=body, headers=admin)
            assert bad.status_code == 400 and "error" in bad.json(), body
        assert (await http.get("/v1/admin/people/export", headers=admin)).status_code == 400


async def test_cli_exports_and_erases_by_visitor_id(
    server: ServerThread, simulator: SimulatorServer, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:10]
    visitor = f"cli-browser-{tag}"
    thread_id = await chat(server, "erase-responses", visitor, f"cli words {tag}")
    tenants_file = tmp_path / "tenants.toml"
    tenants_file.write_text(
        '[tenants.erase-responses]\ndomains = ["erase-responses.test"]\ncontext = "conversations"\n'
        f'base_url = "{simulator.base_url}"\napi_key_env = "ERASE_TEST_KEY"\n',
        encoding="utf-8",
    )
    for name, value in {
        "PROXY_TENANTS_FILE": str(tenants_file),
        "DATABASE_URL": pg_url,
        "ERASE_TEST_KEY": "sk-test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "export.json"
    base = ["people", "--tenant", "erase-responses", "--visitor-id", visitor]

    def run(*argv: str) -> int:
        return run_main([base[0], *argv, *base[1:]])

    assert await anyio.to_thread.run_sync(run, "export", "--out", str(out)) == 0
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert [c["thread_id"] for c in document["conversations"]] == [thread_id]
    assert await anyio.to_thread.run_sync(run, "erase") == 2  # without --yes
    assert await anyio.to_thread.run_sync(run, "erase", "--yes") == 0
    assert await anyio.to_thread.run_sync(run, "export", "--out", str(out)) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["conversations"] == []
    assert os.environ["PROXY_TENANTS_FILE"] == str(tenants_file)
