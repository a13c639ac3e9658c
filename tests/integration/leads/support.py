"""Real servers for the lead tests: aiosmtpd SMTP servers in the test's event loop, a webhook
receiver under uvicorn, and builders for tenants, tool contexts and mail settings."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import anyio
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from proxy.leads.config import LeadsConfig
from proxy.leads.tools import register_lead_tools
from proxy.mail.settings import MailSettings
from proxy.store.db import Database
from proxy.store.threads import ThreadStore
from proxy.tenants import TenantConfig
from proxy.tools.registry import ToolContext, ToolRegistry, ToolSet
from proxy.visitors import Visitor
from tests.support.asgi import answer_lifespan, read_body


class Recorder:
    """aiosmtpd handler keeping every accepted message; ``wait_for(n)`` awaits the n-th."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        self._changed = anyio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        self._changed.set()
        self._changed = anyio.Event()
        return "250 OK"

    def for_tenant(self, tenant: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["X-Proxy-Tenant"] == tenant]

    async def wait_for(self, count: int, tenant: str, timeout: float = 15.0) -> list[EmailMessage]:
        with anyio.fail_after(timeout):
            while len(self.for_tenant(tenant)) < count:
                await self._changed.wait()
        return self.for_tenant(tenant)


class RejectingRecorder(Recorder):
    """Refuses some recipients for good (550) and some for now (450)."""

    def __init__(self, permanent: set[str] = frozenset(), temporary: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.permanent, self.temporary = set(permanent), set(temporary)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.permanent:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        if address in self.temporary:
            return f"450 4.2.1 <{address}>: mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _authenticator(accept: bool, recorder: Recorder, password: bytes = b"right") -> Callable[..., AuthResult]:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        ok = accept and getattr(auth_data, "password", None) == password
        if ok:
            recorder.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)

    return check


@asynccontextmanager
async def smtp_server(
    handler: Recorder,
    *,
    port: int = 0,
    auth: str | None = None,  # None: no AUTH; "accept": user/right; "refuse": every login fails
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        options: dict[str, Any] = {"hostname": "smtp.test"}
        if auth is not None:
            options.update(
                authenticator=_authenticator(auth == "accept", handler), auth_require_tls=starttls is not None
            )
        if starttls is not None:
            options.update(tls_context=starttls, require_starttls=True)
        return SMTP(handler, **options)

    server = await loop.create_server(factory, "127.0.0.1", port, ssl=implicit_tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)


def mail_settings(port: int, **overrides: Any) -> MailSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "timeout": 10.0,
        "backoff_base": 0.0,  # a failed row is due again at once: the next pass retries it
        "from_address": "Assistant <bot@proxy.test>",
        "poll_interval": 30.0,
    }
    values.update(overrides)
    return MailSettings(_env_file=None, **values)  # type: ignore[call-arg]


def tenant_config(name: str, recipients: list[str] | None = None, **leads: Any) -> TenantConfig:
    # these tests file many leads as one visitor; the hourly ceilings have tests of their own
    for ceiling in ("leads_per_visitor_per_hour", "leads_per_tenant_per_hour", "handoffs_per_visitor_per_hour"):
        leads.setdefault(ceiling, 0)
    return TenantConfig(
        name=name,
        domains=[f"{name}.test"],
        tools=["capture_lead", "sendEmail", "escalate_to_human"],
        lead_recipients=[f"team@{name}.test"] if recipients is None else recipients,
        leads=LeadsConfig(**leads),
    )


def lead_tools() -> ToolSet:
    registry = ToolRegistry()
    register_lead_tools(registry)
    return registry.subset(["capture_lead", "sendEmail", "escalate_to_human"])


@dataclass
class Emitted:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((event, data))


def tool_context(
    db: Database,
    config: TenantConfig,
    thread_id: str,
    *,
    call_id: str | None = None,
    visitor: Visitor | None = None,
    page_url: str | None = None,
    emit: Emitted | None = None,
) -> ToolContext:
    return ToolContext(
        tenant=config.name,
        thread_id=thread_id,
        visitor=visitor or Visitor("v:visitor-0001"),
        tenant_config=config,
        db=db,
        run_id="run_test",
        emit=emit or Emitted(),
        page_url=page_url,
        call_id=call_id,
    )


async def new_thread(db: Database, tenant: str, *messages: tuple[str, str]) -> str:
    store = ThreadStore(db)
    thread = await store.create(tenant=tenant, visitor=Visitor("v:visitor-0001"), engine="chat")
    for role, content in messages:
        await store.add_message(thread.id, role, content)
    return thread.id


def args(**values: Any) -> str:
    return json.dumps(values)


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """The receiver's own check, written from the documented scheme (not the library's)."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


async def queue_lead(db: Database, config: TenantConfig, *, name: str = "Lee", email: str = "lee@example.com") -> int:
    """Capture a lead through the tool, as the model would; return the lead id."""
    thread_id = await new_thread(db, config.name, ("user", f"I am {name}, write to {email}"))
    outcome = await lead_tools().dispatch(
        "capture_lead", args(name=name, email=email), tool_context(db, config, thread_id)
    )
    assert outcome.ok, outcome.output
    return int(json.loads(outcome.output)["lead_id"])


async def outbox_rows(db: Database, tenant: str) -> list[dict[str, Any]]:
    return await db.fetch_all("select * from outbox where tenant = %s order by id", (tenant,))


class WebhookReceiver:
    """A plain ASGI app recording each POST; answers the statuses queued in ``plan`` (then 200)."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.plan: list[int] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.calls.append((headers, body))
        status = self.plan.pop(0) if self.plan else 200
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status < 300 else b"try again"})
