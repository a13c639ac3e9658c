"""The widget section of the demo tenant (``python -m proxy demo``) and of the browser tests."""

from __future__ import annotations

from proxy.widget.config import WidgetConfig

DEMO_WIDGET = WidgetConfig(
    title="Harbor & Pine",
    subtitle="Usually replies in a few seconds",
    greeting="Hi! I'm the **Harbor & Pine** assistant. Ask me about coffee, brewing or your order.",
    suggested_questions=["Which roast suits a pour-over?", "Do you ship to Norway?"],
    primary_color="#7c3f12",
    avatar_url="/demo/avatar.svg",  # served by the proxy next to /demo
    tool_labels={"track_order": "Looking up your order…"},
)
