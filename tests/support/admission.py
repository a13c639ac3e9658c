"""A lag monitor the test drives: overload and recovery without loading the machine."""

from __future__ import annotations

import anyio

from proxy.turns.admission import LagMonitor


class HandFedMonitor(LagMonitor):
    """The real monitor, fed lag samples by the test instead of sampling the loop."""

    async def run(self) -> None:
        await anyio.sleep_forever()

    def overload(self) -> None:
        for _ in range(20):
            self.record(1.0)
        assert self.overloaded

    def recover(self) -> None:
        for _ in range(30):
            self.record(0.0)
        assert not self.overloaded
