"""A local SMTP server that keeps every mail it receives as an ``.eml`` file.

``demo`` points the outbox at it, so a new user sees the lead mail arrive (open the file in any
mail client) without configuring a real SMTP server. It accepts any sender, recipient and login
and relays nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

logger = logging.getLogger(__name__)


class EmlFolderHandler:
    """aiosmtpd handler: write the message, as received, to ``folder/<time>-<random>.eml``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.received: list[Path] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        tmp = path.with_suffix(".eml.part")
        # write then rename: a mail client watching the folder never opens half a file
        await asyncio.to_thread(_write, tmp, path, content)
        self.received.append(path)
        logger.info("mail received by the local SMTP sink: %s (to %s)", path, ", ".join(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def _write(tmp: Path, path: Path, content: bytes) -> None:
    tmp.write_bytes(content)
    os.replace(tmp, path)


def _accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True)


@asynccontextmanager
async def run_smtp_sink(folder: Path, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[tuple[str, int]]:
    """Serve SMTP on ``host:port`` (0: any free port) in the running event loop; yield the
    address actually bound."""
    folder.mkdir(parents=True, exist_ok=True)
    handler = EmlFolderHandler(folder)
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return SMTP(handler, hostname="assistant-proxy-sink", authenticator=_accept_any_login, auth_require_tls=False)

    server = await loop.create_server(factory, host=host, port=port)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    logger.info("local SMTP sink on %s:%s keeps mails in %s", bound_host, bound_port, folder)
    try:
        yield bound_host, bound_port
    finally:
        server.close()
        if hasattr(server, "close_clients"):  # Python 3.13+: drop idle SMTP sessions too
            server.close_clients()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
