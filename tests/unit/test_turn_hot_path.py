"""What a turn's hot path relies on: events outside the collector's view, metric series looked up
once, and cancel scopes of the running backend made without a lookup."""

from __future__ import annotations

import asyncio
import gc

import anyio
from prometheus_client import CollectorRegistry, Counter

from proxy.engines.base import TextDelta
from proxy.engines.scopes import cancel_scope
from proxy.turns.events import Event
from proxy.turns.series import series


def test_an_event_is_not_tracked_by_the_collector_and_keeps_its_value_semantics() -> None:
    event = Event("run_1", 3, "message.delta", {"message_id": "m", "delta": "é"})
    assert not gc.is_tracked(event)
    assert event.id == "run_1:3"
    assert event.encoded == '{"message_id":"m","delta":"é"}'.encode()
    stored = Event.stored("run_1", 3, "message.delta", '{"message_id": "m", "delta": "é"}')
    assert stored == event  # the encoding kept with it is not part of the value
    assert stored.encoded == b'{"message_id": "m", "delta": "\xc3\xa9"}'
    assert event != Event("run_1", 4, "message.delta", event.data)


def test_a_series_is_looked_up_once_and_counts_in_its_metric() -> None:
    counter = Counter("hot_path_turns", "turns", ["tenant", "outcome"], registry=CollectorRegistry())
    first = series(counter, "shop", "completed")
    assert series(counter, "shop", "completed") is first
    first.inc()
    series(counter, "shop", "cancelled").inc(2)
    assert counter.labels("shop", "completed")._value.get() == 1
    assert counter.labels("shop", "cancelled")._value.get() == 2


async def test_a_cancel_scope_made_directly_cancels_and_shields_as_anyios_does() -> None:
    cancel_scope()  # the first one tells the backend's class
    with cancel_scope() as outer:
        outer.cancel()
        with cancel_scope(shield=True) as shielded:
            await asyncio.sleep(0)  # runs: the shield keeps the outer cancel out
        assert shielded.shield and not shielded.cancelled_caught
        await asyncio.sleep(1)  # cancelled at once by the outer scope
    assert outer.cancelled_caught
    assert isinstance(outer, anyio.CancelScope)


def test_a_text_delta_is_a_value_outside_the_collectors_count() -> None:
    delta = TextDelta("msg_1", "Hel")
    assert not gc.is_tracked(delta)
    assert delta == TextDelta(message_id="msg_1", delta="Hel") and delta != TextDelta("msg_1", "lo")
    match delta:
        case TextDelta(message_id, text):
            assert (message_id, text) == ("msg_1", "Hel")
