"""The metric series a turn adds to, looked up once per set of label values.

``labels(...)`` takes a lock, converts each value to ``str`` and looks the child series up (about
2 µs); a turn adds to four or five series (time to first token, tokens in and out, its outcome), so
a worker starting hundreds of chats a second looked up the same few children hundreds of times a
second. They are kept here for the process's life: the label values are a tenant, an engine, a
tool, an outcome or an error code (the configured ones, a fixed set), never a visitor's input.
"""

from __future__ import annotations

from typing import TypeVar

from prometheus_client.metrics import MetricWrapperBase

__all__ = ("series",)

M = TypeVar("M", bound=MetricWrapperBase)

_children: dict[tuple[object, ...], MetricWrapperBase] = {}


def series(metric: M, *labels: str) -> M:
    """``metric.labels(*labels)``, looked up once."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child  # type: ignore[return-value]  # (the child of ``metric`` is of its type)
