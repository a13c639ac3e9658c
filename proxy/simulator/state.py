"""Everything one simulator instance remembers, and the request log the tests read."""

from __future__ import annotations

import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from proxy.simulator.faults import HTTP_FAULT_KINDS, FaultQueue
from proxy.simulator.script import ModelInput, Pace, Reply, decide
from proxy.simulator.streaming import EventStream, Outcome, Program, StreamOwner

if TYPE_CHECKING:
    from litestar import Request

    from proxy.simulator.assistants import ThreadRecord
    from proxy.simulator.config import SimulatorConfig
    from proxy.simulator.conversations import Conversation
    from proxy.simulator.responses import ResponseRecord
    from proxy.simulator.runs import RunRecord

__all__ = ("LoggedRequest", "RequestLog", "SimulatorState", "Store", "now")

V = TypeVar("V")


def now() -> int:
    return int(time.time())


class Store(dict[str, V], Generic[V]):
    """A dict that forgets its oldest entries past ``capacity`` (benchmarks create many objects)."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def add(self, key: str, value: V) -> V:
        self[key] = value
        if len(self) > self.capacity:
            for oldest in list(itertools.islice(iter(self), len(self) - self.capacity)):
                del self[oldest]
        return value


class IdFactory:
    """``prefix`` + a random stem per instance + a counter.

    The stem keeps ids unique across restarts: a proxy that stored ``conv_...`` ids from an earlier
    simulator must get 404s, not somebody else's new conversation.
    """

    __slots__ = ("_counter", "_stem")

    def __init__(self) -> None:
        self._stem = secrets.token_hex(6)
        self._counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}{self._stem}{next(self._counter):012x}"


@dataclass(slots=True)
class LoggedRequest:
    seq: int
    method: str
    path: str
    body: Any
    api_key: str | None
    fault: str | None = None
    stream: bool = False
    outcome: Outcome | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "api_key": self.api_key,
            "fault": self.fault,
            "stream": self.stream,
            "outcome": self.outcome,
            "disconnected": (self.outcome == "disconnected") if self.stream else None,
        }


class RequestLog:
    """The last requests to ``/v1``; waiters are woken when one comes in or a stream ends."""

    def __init__(self, size: int) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=size)
        self._seq = itertools.count(1)
        self._waiters: list[anyio.Event] = []

    def add(self, method: str, path: str, body: Any, api_key: str | None) -> LoggedRequest:
        entry = LoggedRequest(next(self._seq), method, path, body, api_key)
        self._entries.append(entry)
        if self._waiters:
            self.notify()
        return entry

    def entries(self) -> list[LoggedRequest]:
        return list(self._entries)

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.set()

    async def wait_for(self, predicate: Callable[[list[LoggedRequest]], bool], timeout: float) -> bool:
        """Wait until ``predicate(entries)`` holds; ``False`` when ``timeout`` passed first."""
        with anyio.move_on_after(timeout):
            while not predicate(self.entries()):
                waiter = anyio.Event()
                self._waiters.append(waiter)
                await waiter.wait()
            return True
        return False

    def clear(self) -> None:
        self._entries.clear()
        self.notify()


class SimulatorState:
    """Held in ``app.state.sim``; handlers receive it as the ``sim`` dependency."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.pace = Pace(config.ttft_ms, config.token_gap_ms, config.reply_tokens)
        self.new_id = IdFactory()
        self.faults = FaultQueue()
        self.delete_faults = FaultQueue(HTTP_FAULT_KINDS)  # for the next deletes of conversations and threads
        self.log = RequestLog(config.request_log_size)
        size = config.store_size
        self.conversations: Store[Conversation] = Store(size)
        self.responses: Store[ResponseRecord] = Store(size)
        self.assistants: Store[dict[str, Any]] = Store(size)
        self.threads: Store[ThreadRecord] = Store(size)
        self.runs: Store[RunRecord] = Store(size)

    def answer(self, model_input: ModelInput) -> Reply:
        """The configured model's reply to ``model_input``."""
        return decide(model_input, self.pace, model=self.config.model, now=self.config.now)

    def reset(self) -> None:
        self.faults.clear()
        self.delete_faults.clear()
        self.log.clear()
        for store in (self.conversations, self.responses, self.assistants, self.threads, self.runs):
            store.clear()

    def take_fault(self, request: Request[Any, Any, Any], directive: str | None) -> str | None:
        """A queued fault wins over the message's directive; the one applied is logged."""
        fault = self.faults.pop() or directive
        entry: LoggedRequest | None = request.state.get("sim_entry")
        if entry is not None:
            entry.fault = fault
        return fault

    def stream(
        self,
        request: Request[Any, Any, Any],
        program: Program,
        *,
        owner: StreamOwner | None = None,
        media_type: str | None = None,
    ) -> EventStream:
        """An :class:`EventStream` whose outcome lands in the request log."""
        entry: LoggedRequest | None = request.state.get("sim_entry")
        if entry is not None:
            entry.stream = True

        def on_end(outcome: Outcome) -> None:
            if entry is not None:
                entry.outcome = outcome
            self.log.notify()

        return EventStream(program, owner=owner, on_end=on_end, media_type=media_type)
