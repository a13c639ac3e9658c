"""Prometheus metrics of the product, labelled by tenant.

Request counts and durations are the series of Litestar's Prometheus middleware
(:class:`RequestSeries`, counted by :class:`proxy.api.middleware.FrontDoor`); these are the chat
specific ones. With several worker processes ``PROMETHEUS_MULTIPROC_DIR`` is set (``serve`` makes
a temporary one unless it is given, see :mod:`proxy.serving`) and ``/metrics`` adds up all workers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from litestar.middleware._utils import should_bypass_middleware
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import Receive, Scope, Send
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess

OPEN_STREAMS = Gauge(
    "proxy_open_streams", "SSE responses currently following a turn", ["tenant"], multiprocess_mode="livesum"
)
TIME_TO_FIRST_TOKEN = Histogram(
    "proxy_time_to_first_token_seconds",
    "From the start of a turn to its first text delta",
    ["tenant", "engine"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)
TOKENS = Counter("proxy_tokens_total", "Provider tokens used", ["tenant", "direction"])
TURNS = Counter("proxy_turns_total", "Turns by outcome (completed or an error code)", ["tenant", "outcome"])
TOOL_CALLS = Counter("proxy_tool_calls_total", "Tool calls run for the model", ["tenant", "tool", "ok"])
UPSTREAM_ERRORS = Counter("proxy_upstream_errors_total", "Provider failures by error code", ["tenant", "code"])
OUTBOX = Gauge("proxy_outbox_messages", "Mails and webhooks in the outbox by state", ["state"], multiprocess_mode="max")
FLOOD_REFUSED = Counter(
    "proxy_flood_refused_total",
    "Leads and handoffs not stored because a thread, visitor or tenant passed its hourly ceiling",
    ["tenant", "kind", "scope"],
)
TURNS_REFUSED = Counter(
    "proxy_turns_refused_total",
    "New turns refused with 503 before any work (cpu_busy, loop_lag, max_active_turns, shutting_down)",
    ["reason"],
)
CPU_BUSY = Gauge(
    "proxy_worker_cpu_busy_ratio",
    "Share of one core the worker used, smoothed over about a second (the busiest worker)",
    multiprocess_mode="livemax",
)
LOOP_LAG = Gauge(
    "proxy_event_loop_lag_seconds",
    "How late the event loop wakes a sleeping task, smoothed (the most loaded worker)",
    multiprocess_mode="livemax",
)


_LABELS: dict[str, str | int | float] = dict.fromkeys(("method", "path", "status_code", "app_name"), "")


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("RequestSeries is not a middleware: proxy.api.middleware.FrontDoor calls on")


class RequestSeries(PrometheusMiddleware):
    """The series of Litestar's Prometheus middleware (same names, labels and values), kept at hand.

    Litestar's middleware builds a ``Request`` and its URL, wraps ``send`` with ``functools.wraps``
    and looks the labelled series up four times (each under prometheus_client's lock) on every
    request: measured on one route, 94 µs of CPU a request with it against 49 µs without it. Here
    each series is looked up once per (method, route, status) and kept; the request's way through
    (timing, status, in progress) is :class:`proxy.api.middleware.FrontDoor`'s. Only the
    configuration the product uses is covered (paths grouped by route; no extra labels, exemplars
    or excluded methods): any other is refused rather than measured differently.
    """

    def __init__(self, config: PrometheusConfig) -> None:
        if not config.group_path or config.labels or config.exemplars or config.excluded_http_methods:
            raise ValueError("RequestSeries covers grouped paths without extra labels, exemplars or excluded methods")
        super().__init__(app=_no_app, config=config)
        self._live: dict[tuple[str, str], Any] = {}
        self._ended: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def skips(self, scope: Scope) -> bool:
        """Whether the configuration leaves this request out (``exclude``, the opt key, scopes)."""
        return should_bypass_middleware(
            scope=scope,
            scopes=self.scopes,
            exclude_path_pattern=self.exclude_pattern,
            exclude_opt_key=self.exclude_opt_key,
        )

    def in_progress(self, method: str, path: str) -> Any:
        """The requests-in-progress gauge of a route (labelled status 200, as Litestar's is)."""
        live = self._live.get((method, path))
        if live is None:
            live = self.requests_in_progress(_LABELS).labels(method, path, 200, self._config.app_name)
            self._live[(method, path)] = live
        return live

    def ended(self, method: str, path: str, status: int, seconds: float) -> None:
        """Count a finished request, its duration and (5xx) its error."""
        key = (method, path, status)
        series = self._ended.get(key)
        if series is None:
            values = (method, path, status, self._config.app_name)
            errors = self.requests_error_count(_LABELS).labels(*values) if status >= 500 else None
            series = (self.request_count(_LABELS).labels(*values), self.request_time(_LABELS).labels(*values), errors)
            self._ended[key] = series
        count, timing, errors = series
        if errors is not None:
            errors.inc()
        count.inc()
        timing.observe(seconds)


def prometheus_config() -> PrometheusConfig:
    # group_path: label requests by route template, not by thread ids
    return PrometheusConfig(
        app_name="assistant_proxy",
        prefix="proxy_http",
        group_path=True,
        exclude=["/metrics"],
    )


def metrics_registry() -> CollectorRegistry:
    """What ``/metrics`` shows: this process's metrics, or every worker's added up."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return REGISTRY
    forget_dead_workers(folder)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, folder)  # type: ignore[no-untyped-call]
    return registry


def forget_dead_workers(folder: str) -> None:
    """Drop the live gauges (open streams, busy, lag) of workers that are gone.

    uvicorn replaces a worker that died; its files stay in the folder, and without this the open
    streams it had would count for ever. Counters and histograms are kept: their totals stay right.
    """
    for path in Path(folder).glob("gauge_live*_*.db"):
        try:
            pid = int(path.stem.rsplit("_", 1)[1])
            os.kill(pid, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
        except PermissionError:
            continue  # alive, someone else's
