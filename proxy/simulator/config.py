"""Settings of one simulator instance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ("SimulatorConfig",)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How the simulated model paces and sizes its replies, and how much the server remembers.

    The pacing defaults are zero so tests run at full speed; the ``demo`` command and benchmarks
    set realistic values. A ``[[pace:...]]`` directive overrides them for one request.
    """

    ttft_ms: int = 0
    """Pause before the first token of a streamed reply."""
    token_gap_ms: int = 0
    """Pause between two streamed tokens (text words or fragments of tool-call arguments)."""
    reply_tokens: int = 40
    """Length, in words, the default echo reply is padded up to with filler words."""
    retry_after_ms: int | None = 10
    """Sent as ``retry-after-ms`` with 429 and 5xx errors so the SDK retries without its long back-off."""
    request_log_size: int = 1000
    """How many requests ``GET /_sim/requests`` keeps, newest last."""
    store_size: int = 10_000
    """How many conversations, responses, threads and runs each are kept before the oldest go."""
    model: Literal["offline", "echo"] = "offline"
    """Who answers messages without directives: the offline model (:mod:`proxy.offline`: calls the
    offered tools and answers from their outputs) or the echo (repeats the message, for tests)."""
    now: datetime | None = None
    """The offline model's clock for periods such as "last month"; None: the real current time."""
    conversations_api: bool = True
    """Off: ``/v1/conversations`` answers 404 ``{"detail": "Not Found"}``, as LiteLLM's proxy and vLLM do."""
    store_responses: bool = True
    """Off: no response can be retrieved or chained (``previous_response_id`` is unknown), as with
    vLLM without its response store, Ollama, or ``store: false`` on OpenAI."""

    def __post_init__(self) -> None:
        if self.model not in ("offline", "echo"):
            raise ValueError("model must be 'offline' or 'echo'")
        for name in ("ttft_ms", "token_gap_ms", "reply_tokens", "request_log_size", "store_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
