"""The settings about a turn and its stream: how large a message may be, how long a turn may run and
hold its thread, how a stream is paced and kept alive, and when a worker refuses new turns.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator


class TurnFields(BaseModel):
    """Bounds and pacing of turns and their streams, and a worker's overload limits."""

    # --- turns and streams ---
    max_body_bytes: int = Field(
        64 * 1024,
        validation_alias="PROXY_MAX_BODY_BYTES",
        description="Largest request body in bytes (413 above it).",
        json_schema_extra={"heading": "turns and streams"},
    )
    max_message_chars: int = Field(
        8000, validation_alias="PROXY_MAX_MESSAGE_CHARS", description="Longest visitor message in characters."
    )
    turn_timeout: float = Field(
        120.0,
        validation_alias="PROXY_TURN_TIMEOUT",
        description="A whole turn (all tool rounds) is stopped after this many seconds.",
    )
    turn_lease: float = Field(
        15.0,
        gt=0,
        validation_alias="PROXY_TURN_LEASE",
        description="A turn's lock on its thread lasts this many seconds and is renewed while the turn runs:"
        " the threads of a worker that died (kill -9, a crashed machine) are free again after it.",
    )
    heartbeat_interval: float = Field(
        15.0,
        validation_alias="PROXY_HEARTBEAT_INTERVAL",
        description="Seconds of silence before a `: ping` comment on a stream.",
    )
    disconnect_grace: float = Field(
        10.0,
        validation_alias="PROXY_DISCONNECT_GRACE",
        description="Seconds a turn keeps running after its visitor's connection dropped, so a reconnect with"
        " Last-Event-ID can resume it on any worker (0: cancel at once).",
    )
    shutdown_grace: float = Field(
        20.0,
        validation_alias="PROXY_SHUTDOWN_GRACE",
        description="On SIGTERM or Ctrl+C, seconds running turns get to finish while new ones are refused with"
        " 503; those still running then end with `shutting_down` and `done`.",
    )
    write_pause_max: float = Field(
        0.15,
        ge=0,
        le=1,
        validation_alias="PROXY_WRITE_PAUSE_MAX",
        description="Longest pause, in seconds, of a stream after each write, so that the tokens arriving"
        " meanwhile share its next write: 0.05 while up to 50 streams are open, 1 ms per open stream"
        " beyond (fewer, larger writes: less CPU per token under load). 0.05 keeps it at 50 ms; 0: no pause.",
    )
    compat_frame_gap: float = Field(
        0.04,
        ge=0,
        le=1,
        validation_alias="PROXY_COMPAT_FRAME_GAP",
        description="Old routes (/open-ai/*): seconds between two frames, so that widgets built for the old"
        " service, which parse one frame per network read, get them one at a time (see docs/production.md).",
    )
    max_loop_lag: float = Field(
        0.05,
        ge=0,
        validation_alias="PROXY_MAX_LOOP_LAG",
        description="Overload: a worker whose event loop runs this many seconds late (smoothed) refuses new"
        " turns with 503 `overloaded` and Retry-After until the lag is below half of it again (0 or empty:"
        " never). A healthy worker is a few ms late; 0.05 is reached at about three times its capacity"
        " (see proxy.turns.admission).",
    )
    max_cpu_busy: float = Field(
        0.0,
        ge=0,
        le=1,
        validation_alias="PROXY_MAX_CPU_BUSY",
        description="Behind a load balancer that retries a 503 on another worker: also refuse while the worker"
        " uses more than this share of a core, smoothed over a second (0 or empty: off; e.g. 0.95).",
    )
    max_active_turns: int | None = Field(
        None,
        ge=0,
        validation_alias="PROXY_MAX_ACTIVE_TURNS",
        description="Optional hard cap on running turns per worker, refused the same way beyond it (unset or 0:"
        " none). Idle streams waiting on a slow provider count too, so leave room for them.",
        examples=["500"],
    )

    @field_validator("max_cpu_busy", "max_loop_lag", "max_active_turns", mode="before")
    @classmethod
    def _blank_is_off(cls, value: Any) -> Any:
        return 0 if isinstance(value, str) and not value.strip() else value
