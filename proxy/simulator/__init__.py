"""A local server speaking OpenAI's wire protocol, with a deterministic scripted "model".

Used by the ``demo`` command (try the product without a key), by the engines' integration tests
and by the benchmarks. It serves the subset of the API the engines use - Responses +
Conversations, Assistants (threads, messages, runs), Chat Completions, Embeddings, Models - in
OpenAI's JSON and SSE shapes, so the official SDK parses everything it sends.

What the model answers is decided by :mod:`proxy.simulator.script` from directives such as
``[[tool:NAME {...}]]``, ``[[reply:...]]``, ``[[pace:...]]`` and ``[[fault:KIND]]`` in the last user
message; failures can also be queued through ``POST /_sim/faults`` (see :mod:`.control`).
"""

from __future__ import annotations

from proxy.simulator.app import create_simulator_app
from proxy.simulator.config import SimulatorConfig
from proxy.simulator.embeddings import hash_embedding
from proxy.simulator.server import SimulatorServer, run_simulator, serve

__all__ = ("SimulatorConfig", "SimulatorServer", "create_simulator_app", "hash_embedding", "run_simulator", "serve")
