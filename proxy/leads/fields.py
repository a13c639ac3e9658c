"""Checking what the model passes to capture_lead / sendEmail before anything is stored.

Every refusal is a sentence the model can act on (ask the visitor again); nothing is stored or
mailed for a refused call. Missing fields keep the old service's wording (``Missing email``).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from proxy.tools.registry import ToolError

MAX_NAME = 200
MAX_EMAIL = 254
MAX_MESSAGE = 5000
MAX_PHONE = 40
MAX_URL = 2048

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_PHONE = re.compile(r"^\+?[0-9 ().\-/]{5,40}$")


@dataclass(frozen=True, slots=True)
class LeadFields:
    name: str
    email: str
    message: str
    phone: str | None = None
    consent: bool = False

    def content_hash(self) -> str:
        """The same details twice in one thread are one lead, whatever call carried them."""
        canonical = json.dumps(
            {"name": self.name.casefold(), "email": self.email.lower(), "message": self.message, "phone": self.phone},
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_email(value: str) -> str:
    """Return the address with an ASCII (punycode) domain; raise ``ValueError`` why it is not one."""
    value = value.strip()
    if len(value) > MAX_EMAIL:
        raise ValueError(f"is longer than {MAX_EMAIL} characters")
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("needs the form name@example.com")
    if len(local) > 64 or not _LOCAL.match(local):
        raise ValueError("has an invalid part before the @")
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError("has an invalid domain") from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError("has an invalid domain")
    return f"{local}@{domain}"


def text_field(args: dict[str, Any], key: str, limit: int, *, required: bool, single_line: bool) -> str:
    raw = args.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise ToolError(f"Missing {key}")
        return ""
    if not isinstance(raw, str):
        raise ToolError(f"{key} must be text")
    value = unicodedata.normalize("NFC", raw.strip())
    if len(value) > limit:
        raise ToolError(f"{key} is too long ({len(value)} characters, at most {limit})")
    allowed = "" if single_line else "\n\t"
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
        raise ToolError(f"{key} contains control characters")
    return value


def parse_lead(args: dict[str, Any], *, message_required: bool) -> LeadFields:
    """Validate the tool arguments, in the old order: name, email, message."""
    name = text_field(args, "name", MAX_NAME, required=True, single_line=True)
    email_raw = text_field(args, "email", MAX_EMAIL, required=True, single_line=True)
    message = text_field(args, "message", MAX_MESSAGE, required=message_required, single_line=False)
    try:
        email = normalize_email(email_raw)
    except ValueError as exc:
        raise ToolError(f"The email address {email_raw!r} {exc}; ask the visitor to check it") from None
    phone = text_field(args, "phone", MAX_PHONE, required=False, single_line=True) or None
    if phone is not None and not _PHONE.match(phone):
        raise ToolError(f"The phone number {phone!r} is not valid; leave it out or ask again")
    consent = args.get("consent", False)
    if not isinstance(consent, bool):
        raise ToolError("consent must be true or false")
    return LeadFields(name=name, email=email, message=message, phone=phone, consent=consent)


def clean_page_url(value: Any) -> str | None:
    """The page the visitor chatted on, if it is a plausible http(s) URL; else nothing."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value.startswith(("https://", "http://")) or len(value) > MAX_URL:
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        return None
    return str(value)
