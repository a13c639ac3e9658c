"""How the responses engine gives the provider a conversation's context, as configuration names it.

A leaf module on purpose: the configuration (``proxy.settings``, ``proxy.tenants``) names the modes
without importing the engines.
"""

from __future__ import annotations

from typing import Literal

# the provider's Conversations API, chaining with ``previous_response_id``, or our stored history
# as ``input``
ContextMode = Literal["conversations", "previous_response", "history"]
ContextSetting = Literal["auto", "conversations", "previous_response", "history"]
