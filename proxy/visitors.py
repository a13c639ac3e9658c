"""Who is on the other side of a chat: the visitor a thread is bound to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VisitorKind = Literal["anonymous", "identified", "staff"]


@dataclass(frozen=True, slots=True)
class Visitor:
    """A widget visitor or a server-side client.

    ``id`` is an opaque, stable key the thread is bound to (the widget's random visitor id, the
    verified user id of an identity token, or ``client:<name>`` for a server-side client).
    """

    id: str | None = None
    kind: VisitorKind = "anonymous"
    user_id: str | None = None
    email: str | None = None

    @property
    def binding(self) -> str | None:
        """The key a thread created by this visitor is bound to."""
        return self.id
