"""A local server speaking OpenAI's wire protocol, with deterministic "models".

Used by the ``demo`` command (try the product without a key), by the engines' integration tests
and by the benchmarks. It serves the subset of the API the engines use - Responses +
Conversations, Assistants (threads, messages, runs), Chat Completions, Embeddings, Models - in
OpenAI's JSON and SSE shapes, so the official SDK parses everything it sends.

What the model answers is decided by :mod:`proxy.simulator.script`: by default the offline model
(:mod:`proxy.offline`) calls the offered tools and answers from their outputs; a last user message
with directives such as ``[[tool:NAME {...}]]``, ``[[reply:...]]``, ``[[pace:...]]`` or
``[[fault:KIND]]`` is answered by the scripted echo model, as is every message when
``SimulatorConfig(model="echo")``. Failures can also be queued through ``POST /_sim/faults`` (see
:mod:`.control`).

:class:`ServerThread`, which serves the simulator from a background thread, serves any ASGI app
the same way (the test suite runs the proxy itself with it).
"""

from __future__ import annotations

from proxy.simulator.app import create_simulator_app
from proxy.simulator.config import SimulatorConfig
from proxy.simulator.server import ServerThread, SimulatorServer, run_simulator, serve

__all__ = ("ServerThread", "SimulatorConfig", "SimulatorServer", "create_simulator_app", "run_simulator", "serve")
