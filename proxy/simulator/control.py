"""``/_sim``: the test-only side door (not part of OpenAI's API, no key needed).

* ``POST /_sim/faults`` ``{"next": ["500", "cut"]}`` queues faults for the next model calls
  (responses create, runs create, submit_tool_outputs, chat completions), one each, in order;
  ``GET /_sim/faults`` shows what is still queued. ``{"deletes": ["500", "500"]}`` fails the next
  deletes of conversations and threads (HTTP kinds only), one each, in order.
* ``GET /_sim/requests`` lists the logged ``/v1`` requests. With ``min_count``, ``min_ended``
  (streams that ended, whatever the outcome) or ``min_disconnected`` it first waits, up to
  ``timeout`` seconds, until the log has that many - so tests synchronise without sleeping.
* ``POST /_sim/reset`` forgets everything: objects, queued faults, the log.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from proxy.simulator.errors import invalid_request
from proxy.simulator.state import LoggedRequest, SimulatorState

__all__ = ("ControlController",)


class ControlController(Controller):
    path = "/_sim"

    @post("/faults", status_code=HTTP_200_OK)
    async def queue_faults(
        self, sim: NamedDependency[SimulatorState], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        queues = {"next": sim.faults, "deletes": sim.delete_faults}
        if not queues.keys() & data.keys():
            raise invalid_request("'next' must be a list of fault kinds.", param="next")
        given = {param: queue for param, queue in queues.items() if param in data}
        for param, queue in given.items():  # all checked before any is queued: a refusal queues nothing
            kinds = data[param]
            if not isinstance(kinds, list) or not all(isinstance(kind, str) for kind in kinds):
                raise invalid_request(f"'{param}' must be a list of fault kinds.", param=param)
            try:
                queue.check(kinds)
            except ValueError as exc:
                raise invalid_request(str(exc), param=param) from exc
        for param, queue in given.items():
            queue.push(data[param])
        return {"pending": sim.faults.pending(), "deletes": sim.delete_faults.pending()}

    @get("/faults")
    async def pending_faults(self, sim: NamedDependency[SimulatorState]) -> dict[str, Any]:
        return {"pending": sim.faults.pending(), "deletes": sim.delete_faults.pending()}

    @get("/requests")
    async def requests(
        self,
        sim: NamedDependency[SimulatorState],
        min_count: FromQuery[int] = 0,
        min_ended: FromQuery[int] = 0,
        min_disconnected: FromQuery[int] = 0,
        timeout: FromQuery[float] = 5.0,
    ) -> dict[str, Any]:
        def enough(entries: list[LoggedRequest]) -> bool:
            ended = [entry for entry in entries if entry.outcome is not None]
            return (
                len(entries) >= min_count
                and len(ended) >= min_ended
                and sum(entry.outcome == "disconnected" for entry in ended) >= min_disconnected
            )

        satisfied = await sim.log.wait_for(enough, timeout)
        return {"requests": [entry.as_dict() for entry in sim.log.entries()], "satisfied": satisfied}

    @post("/reset", status_code=HTTP_200_OK)
    async def reset(self, sim: NamedDependency[SimulatorState]) -> dict[str, Any]:
        sim.reset()
        return {"reset": True}
