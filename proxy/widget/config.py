"""A tenant's ``[tenants.NAME.widget]`` section: how the widget looks on that tenant's site.

Everything here is public: ``GET /v1/widget-config`` hands it to every visitor's browser. Values that
end up in CSS or in ``src`` attributes are validated strictly (colours are hex, the avatar is an
http(s) URL), and the widget checks them again before use.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

_HEX_COLOUR = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$"
_LOCALE = r"^[a-zA-Z]{2,3}(?:-[a-zA-Z0-9]{2,8})*$"
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")

Colour = Annotated[str, StringConstraints(pattern=_HEX_COLOUR)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class WidgetConfig(BaseModel):
    """Title, colours, avatar, greeting, suggested questions, position and locale of the widget.

    Every field is optional; a tenant without a ``widget`` section gets a neutral blue widget whose
    texts come from the widget's own string catalogue in the visitor's language.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: ShortText | None = None  # header text; default: the catalogue's "Chat with us"
    subtitle: ShortText | None = None  # small line under the title, e.g. "Replies in seconds"
    greeting: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    suggested_questions: list[Question] = Field(default_factory=list, max_length=6)
    placeholder: ShortText | None = None  # composer placeholder; default from the catalogue
    avatar_url: Annotated[str, StringConstraints(max_length=2000)] | None = None  # http(s), or a path on the proxy

    primary_color: Colour = "#2563eb"  # launcher, header, visitor bubbles, buttons
    primary_text_color: Colour = "#ffffff"  # text on primary_color
    background_color: Colour = "#ffffff"  # panel background
    text_color: Colour = "#111827"  # text in the panel

    position: Literal["bottom-right", "bottom-left"] = "bottom-right"
    open_on_load: bool = False
    locale: Annotated[str, StringConstraints(pattern=_LOCALE)] | None = None  # None: the browser's
    # status line shown while a tool runs, by tool name, e.g. {search_products = "Checking stock..."}
    tool_labels: dict[str, ShortText] = Field(default_factory=dict)

    @field_validator("avatar_url")
    @classmethod
    def _check_avatar(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not re.match(r"^https?://[^\s\"'<>\\]+$", value, re.IGNORECASE) and not re.match(
            r"^/[^/\\\s\"'<>][^\s\"'<>\\]*$", value
        ):
            raise ValueError("must be an http(s) URL or a path starting with /")
        return value

    @field_validator("tool_labels")
    @classmethod
    def _check_tool_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _TOOL_NAME.match(name):
                raise ValueError(f"{name!r} is not a tool name")
        return value

    def public(self) -> dict[str, Any]:
        """The JSON the widget receives."""
        return self.model_dump(mode="json")
