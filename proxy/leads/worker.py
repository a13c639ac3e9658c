"""The background sender: delivers due outbox rows, wakes on NOTIFY, polls as a fallback.

Every instance may run one; ``for update skip locked`` and leases keep them from sending a row
twice. A delivery is cut off at half the lease, so a slow SMTP server can never outlive the lease
and let a second sender start on the same row. Each row is attempted at most once per pass.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import anyio
import httpx

from proxy.mail import outbox
from proxy.mail.outbox import OutboxItem
from proxy.mail.sender import DeliveryError, build_message, send_message
from proxy.mail.settings import MailSettings
from proxy.mail.webhook import post_webhook
from proxy.store.db import Database
from proxy.store.notify import notifications

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0  # seconds the current pass may finish on shutdown; a cut-off delivery is retried
MIN_SLEEP = 0.05  # seconds at least between passes when a row is due at once, so retries cannot spin


def _kinds(settings: MailSettings) -> list[str]:
    # without SMTP, mails wait in the queue (never dropped, no attempts burnt) until it is set up
    return ["email", "webhook"] if settings.configured else ["webhook"]


async def _attempt(
    item: OutboxItem, settings: MailSettings, http: httpx.AsyncClient | None, env: Mapping[str, str] | None
) -> str | None:
    if item.kind == "email":
        message = build_message(item.payload, settings, outbox_id=item.id, queued_at=item.created_at)
        return await send_message(message, settings)
    await post_webhook(item.payload, delivery_id=item.id, timeout=settings.webhook_timeout, client=http, env=env)
    return None


async def _deliver(
    db: Database,
    item: OutboxItem,
    settings: MailSettings,
    http: httpx.AsyncClient | None,
    env: Mapping[str, str] | None,
) -> None:
    log = {"outbox_id": item.id, "tenant": item.tenant, "kind": item.kind, "attempt": item.attempts}
    if item.attempts > settings.max_attempts:
        # the sender holding the last allowed attempt died; whether it got through is unknown
        await outbox.mark_failed(
            db,
            item,
            "the sender stopped during the last attempt (lease expired)",
            permanent=True,
            max_attempts=settings.max_attempts,
            retry_in=0,
        )
        logger.error("outbox row dead-lettered after a lost attempt", extra=log)
        return
    try:
        with anyio.fail_after(settings.lease_seconds / 2):
            note = await _attempt(item, settings, http, env)
    except DeliveryError as exc:
        error, permanent = exc.reason, exc.permanent
    except TimeoutError:
        error, permanent = f"delivery took longer than {settings.lease_seconds / 2:g} s", False
    except Exception as exc:  # a bug must not stop the sender; the row shows it and is retried
        logger.exception("outbox delivery failed unexpectedly", extra=log)
        error, permanent = f"unexpected error: {type(exc).__name__}: {exc}", False
    else:
        if not await outbox.mark_sent(db, item, note):
            logger.warning("outbox row was taken over by another sender after its lease expired", extra=log)
        else:
            logger.info("outbox row delivered", extra=log)
        return
    state = await outbox.mark_failed(
        db,
        item,
        error,
        permanent=permanent,
        max_attempts=settings.max_attempts,
        retry_in=settings.backoff(item.attempts),
    )
    level = logging.ERROR if state == "dead" else logging.WARNING
    logger.log(level, "outbox delivery failed (%s): %s", state, error, extra=log)


async def deliver_due(
    db: Database,
    mail_settings: MailSettings,
    *,
    http_client: httpx.AsyncClient | None = None,
    env: Mapping[str, str] | None = None,
    tenants: Sequence[str] | None = None,
) -> int:
    """One pass: deliver what is due now, ``concurrency`` rows at a time, at most ``batch_size``
    rows (only ``tenants``' rows if given). Returns how many rows were attempted (delivered or not)."""
    owner = outbox.new_owner()
    kinds = _kinds(mail_settings)
    seen: set[int] = set()
    while len(seen) < mail_settings.batch_size:
        limit = min(mail_settings.concurrency, mail_settings.batch_size - len(seen))
        items = await outbox.claim(
            db,
            owner=owner,
            lease_seconds=mail_settings.lease_seconds,
            limit=limit,
            kinds=kinds,
            exclude=sorted(seen),
            tenants=tenants,
        )
        if not items:
            break
        seen.update(i.id for i in items)
        async with anyio.create_task_group() as tg:
            for item in items:
                tg.start_soon(_deliver, db, item, mail_settings, http_client, env)
    return len(seen)


class OutboxWorker:
    """The sender loop; ``kick()`` wakes it at once (NOTIFY does the same across processes)."""

    def __init__(
        self,
        db: Database,
        settings: MailSettings,
        poll_interval: float,
        http_client: httpx.AsyncClient | None,
        tenants: Sequence[str] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.poll_interval = poll_interval
        self.http_client = http_client
        self.tenants = tenants
        self.passes = 0
        self._wake = anyio.Event()
        self._stopping = False
        self._stopped = anyio.Event()

    def kick(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        warned = False
        try:
            while not self._stopping:
                self._wake = anyio.Event()  # before the pass: a NOTIFY during the pass is not lost
                try:
                    count = await deliver_due(
                        self.db, self.settings, http_client=self.http_client, tenants=self.tenants
                    )
                    wait = await outbox.seconds_until_due(self.db, _kinds(self.settings), self.tenants)
                except Exception:
                    logger.warning("outbox pass failed; retrying after the poll interval", exc_info=True)
                    count, wait = 0, None
                self.passes += 1
                if not self.settings.configured and not warned:
                    warned = True
                    logger.warning("SMTP is not configured (SMTP_HOST): lead mails stay queued until it is")
                if count >= self.settings.batch_size:
                    continue
                timeout = self.poll_interval if wait is None else min(self.poll_interval, max(wait, MIN_SLEEP))
                with anyio.move_on_after(timeout):
                    await self._wake.wait()
        finally:
            self._stopped.set()

    async def listen(self) -> None:
        """Wake the sender on every NOTIFY, and whenever listening (re)starts: whatever was queued
        while nobody listened. Without LISTEN the sender still polls."""
        async for _ in notifications(self.db, outbox.NOTIFY_CHANNEL, on_listening=self.kick):
            self.kick()


@asynccontextmanager
async def run_outbox_worker(
    db: Database,
    mail_settings: MailSettings,
    *,
    poll_interval: float | None = None,
    http_client: httpx.AsyncClient | None = None,
    shutdown_grace: float = SHUTDOWN_GRACE,
    tenants: Sequence[str] | None = None,
) -> AsyncIterator[OutboxWorker]:
    """Run the sender while the block runs. On exit the current pass may finish for up to
    ``shutdown_grace`` seconds; a delivery cut off then keeps its lease and is retried when the
    lease expires, by this or another instance."""
    worker = OutboxWorker(db, mail_settings, poll_interval or mail_settings.poll_interval, http_client, tenants)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        tg.start_soon(worker.listen)
        try:
            yield worker
        finally:
            worker.stop()
            with anyio.move_on_after(shutdown_grace, shield=True):
                await worker._stopped.wait()
            tg.cancel_scope.cancel()
