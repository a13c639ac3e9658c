"""How the processes react to SIGTERM and SIGINT.

- Commands: SIGTERM (what systemd, Docker and process managers send) is handled like Ctrl+C, so
  every ``with`` and ``finally`` block runs and an embedded Postgres the command started is let go
  (:func:`terminate_as_interrupt`). By default Python would die on the spot, running none of them.
- The web app: uvicorn's own handler stops accepting connections at once and, after its timeout,
  cancels the responses still streaming, before the app hears of the shutdown. While the app runs,
  :func:`draining_on_signals` takes the first signal itself, drains the running turns (new ones
  get 503 ``shutting_down``; running ones finish or end with ``shutting_down`` and ``done``) and
  only then hands the signal on to uvicorn, which closes the connections and stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from types import FrameType
from typing import Any

import anyio

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as KeyboardInterrupt where no Ctrl+C handler would act on it."""


@contextmanager
def terminate_as_interrupt() -> Iterator[list[int]]:
    """While the block runs in the main thread, SIGTERM does what Ctrl+C does at that moment.

    Under ``asyncio.run``/``anyio.run`` the main task is cancelled, so every ``async with`` and
    ``finally`` unwinds and the run ends with KeyboardInterrupt (raising it at an arbitrary point
    instead could land inside a library that swallows it); in plain code KeyboardInterrupt is
    raised. Yields the list of SIGTERMs received, to tell the two apart afterwards.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def on_terminate(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        interrupt = signal.getsignal(signal.SIGINT)
        if not callable(interrupt):
            raise Terminated()
        interrupt(signal.SIGINT, frame)

    ignored = signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None)
    if ignored:  # started in the background by a shell: Ctrl+C's handler is what SIGTERM needs
        signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, on_terminate)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@asynccontextmanager
async def draining_on_signals(drain: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """While the block runs, SIGTERM or SIGINT first awaits ``drain()``, then reaches the handler
    that was installed before (uvicorn's). A second SIGINT hands on at once (Ctrl+C twice forces the
    exit); a repeated SIGTERM (a process manager signalling every process) changes nothing.

    Signals arrive in the main thread only; elsewhere (a server in a thread, tests) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    send, receive = anyio.create_memory_object_stream[int](16)

    def deliver(signum: int) -> None:
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.WouldBlock):
            send.send_nowait(signum)  # (closed: the app is stopping anyway)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(deliver, signum)  # the loop may be mid-step here

    previous = {sig: signal.signal(sig, on_signal) for sig in SIGNALS}

    def hand_on(signum: int) -> None:
        handler = previous[signal.Signals(signum)]
        if callable(handler):
            handler(signum, None)
        elif handler == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    handed_on = False
    forced = False

    async def drain_then_hand_on(signum: int, scope: anyio.CancelScope) -> None:
        nonlocal handed_on
        with scope:
            await drain()
        hand_on(signum)
        handed_on = True
        if forced:
            hand_on(signal.SIGINT)

    async def watch() -> None:
        nonlocal forced
        draining: anyio.CancelScope | None = None
        async with anyio.create_task_group() as group:
            async for signum in receive:
                if draining is None:
                    logger.info(
                        "%s received: stopping once the running replies have ended", signal.Signals(signum).name
                    )
                    draining = anyio.CancelScope()
                    group.start_soon(drain_then_hand_on, signum, draining)
                elif signum == signal.SIGINT and handed_on:
                    hand_on(signum)
                elif signum == signal.SIGINT:
                    forced = True
                    draining.cancel()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            try:
                yield
            finally:
                group.cancel_scope.cancel()
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is on_signal:
                signal.signal(sig, _as_handler(handler))
        send.close()


def _as_handler(handler: Any) -> Any:
    """``signal.getsignal`` may answer None (a handler not set from Python): leave the default."""
    return signal.SIG_DFL if handler is None else handler
