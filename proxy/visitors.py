"""Who is on the other side of a chat: the visitor a thread is bound to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VisitorKind = Literal["anonymous", "identified", "staff"]


@dataclass(frozen=True, slots=True)
class Visitor:
    """A widget visitor or a server-side client, as one request shows it.

    ``id`` is an opaque, stable key (the widget's random visitor id, or ``user:<sub>`` for a
    verified user without one); ``user_id`` and ``email`` come from an identity token verified
    for this request, never from an earlier one.
    """

    id: str | None = None
    kind: VisitorKind = "anonymous"
    user_id: str | None = None
    email: str | None = None

    @property
    def binding(self) -> str | None:
        """The key a thread created by this visitor is bound to, and that later requests must match.

        A signed-in visitor's key names the user as well as the browser, so the thread answers only
        requests that carry a valid token for that same user (signing out, or a token that expired,
        ends access to it).
        """
        if self.user_id is None:
            return self.id
        user = f"user:{self.user_id}"
        return user if self.id is None or self.id == user else f"{self.id}|{user}"
