"""A deterministic, local stand-in for a language model that answers from the shop's tools.

It routes by words and writes from templates (see :mod:`proxy.offline.model`); it does no I/O.
Connect a provider for a real model.
"""

from proxy.offline.model import OfflineModel, respond
from proxy.offline.types import Answer, Message, ToolSpec, split_tokens

__all__ = ("Answer", "Message", "OfflineModel", "ToolSpec", "respond", "split_tokens")
