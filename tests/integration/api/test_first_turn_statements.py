"""A new chat costs two statements for its whole turn: one opens it (thread, lease, message), one
ends it (reply, usage, release, and the provider's conversation the turn created)."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient

from proxy.app import create_app
from proxy.store.db import Database
from tests.support.apps import directory, make_settings, make_tenant, sse_events
from tests.support.scripted_engine import Engines, scripted_tools
from tests.support.statements import note_statements, recording


async def test_a_first_message_with_a_new_conversation_takes_two_statements(
    pg_url: str, tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    note_statements(monkeypatch)
    engines = Engines()  # the scripted engine creates a provider conversation on a thread's first turn
    tenants = directory(make_tenant("firsts", ["firsts.test"]))
    app = create_app(
        make_settings(pg_url, tmp_path), tenants=tenants, tools=scripted_tools(), engine_factory=engines.factory
    )
    recorded: list[str] = []
    with TestClient(app, base_url="http://proxy.test") as client:  # noqa: SIM117 (started before the recording)
        with recording(recorded):  # the request's statements, and its turn's (a task started from it)
            response = client.post(
                "/v1/threads",
                json={"message": "say:hello there"},
                headers={"Origin": "https://firsts.test", "X-Visitor-Id": "first-statements"},
            )
    events = sse_events(response.text)
    assert response.status_code == 201, response.text
    assert events[-1][0] == "done"
    thread_id = events[0][1]["thread_id"]
    assert len(recorded) == 2, [q[:200] for q in recorded]
    assert "insert into threads" in recorded[0] and "insert into messages" in recorded[0]
    assert "active_run = null" in recorded[1]
    row = await database.fetch_one("select provider_id, active_run from threads where id = %s", (thread_id,))
    assert row is not None
    assert row["provider_id"] is not None and row["provider_id"].startswith("conv_")
    assert row["active_run"] is None
