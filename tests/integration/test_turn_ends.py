"""Turns that end together are saved in one statement: each its reply, its release and its provider
id, their token usage added up per row; a turn whose draft was kept already adds no second reply."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from datetime import date

import pytest

from proxy.store.db import Database
from proxy.store.threads import Lease, LockedThread, NewTurn, ThreadStore, new_id
from proxy.store.turn_ends import TurnEnd, TurnEnds
from proxy.usage.store import UsageEntry
from proxy.visitors import Visitor
from tests.support.turn_jobs import end_turn


def run(tenant: str, n: int) -> str:
    return f"run_{tenant}_{n}"


async def opened(store: ThreadStore, tenant: str, n: int) -> LockedThread:
    return await store.create_locked(NewTurn(
        new_id("thr"), tenant=tenant, visitor=Visitor(f"v:{n}"), engine="chat", run_id=run(tenant, n),
        lease_seconds=60, user_text=f"question {n}",
    ))  # fmt: skip


async def test_turns_ending_together_are_each_saved(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []  # the statements' sizes (a failed one would be sent again one by one)
    together = TurnEnds._finish_together

    async def noting(self: TurnEnds, ends: Sequence[TurnEnd]) -> list[None]:
        sent.append(len(ends))
        return await together(self, ends)

    monkeypatch.setattr(TurnEnds, "_finish_together", noting)
    store = ThreadStore(database)
    tenant = f"t-ends-{secrets.token_hex(3)}"
    threads = await asyncio.gather(*(opened(store, tenant, n) for n in range(8)))
    day = date(2026, 12, 2)

    async def end(n: int, thread: LockedThread) -> str:
        usage = UsageEntry(tenant, day, "model-a", 10 + n, 1, shard=n % 2)  # two rows, four turns each
        conversation = f"conv_{n}" if n % 2 else None
        return await end_turn(store, thread.id, run(tenant, n), f"answer {n}", usage=usage, provider_id=conversation)

    steps = await asyncio.gather(*(end(n, thread) for n, thread in enumerate(threads)))
    assert steps == ["saved"] * 8
    assert sent == [8]  # one statement for all
    for n, thread in enumerate(threads):
        assert [(m.role, m.content) for m in await store.messages(thread.id)] == [
            ("user", f"question {n}"),
            ("assistant", f"answer {n}"),
        ]
        assert await store.active_run(thread.id) is None
        row = await database.fetch_one("select provider_id from threads where id = %s", (thread.id,))
        assert row == {"provider_id": f"conv_{n}" if n % 2 else None}
    rows = await database.fetch_all(
        "select shard, input_tokens, output_tokens, turns from usage_daily where tenant = %s order by shard", (tenant,)
    )
    assert rows == [
        {"shard": 0, "input_tokens": 10 + 12 + 14 + 16, "output_tokens": 4, "turns": 4},
        {"shard": 1, "input_tokens": 11 + 13 + 15 + 17, "output_tokens": 4, "turns": 4},
    ]


async def test_a_turn_whose_draft_was_kept_adds_no_second_reply_among_others(database: Database) -> None:
    store = ThreadStore(database)
    tenant = f"t-ends-late-{secrets.token_hex(3)}"
    late, other = await asyncio.gather(opened(store, tenant, 0), opened(store, tenant, 1))
    await store.renew([Lease(late.id, run(tenant, 0), "half an ans")], -1)  # its worker stalled past the lease
    assert (late.id, run(tenant, 0)) in await store.reap()  # the draft became its reply
    steps = await asyncio.gather(
        end_turn(store, late.id, run(tenant, 0), "half an answer, finished"),
        end_turn(store, other.id, run(tenant, 1), "ok"),
    )
    assert steps == ["saved", "saved"]
    assert [m.content for m in await store.messages(late.id)] == ["question 0", "half an ans"]
    assert [m.content for m in await store.messages(other.id)] == ["question 1", "ok"]
