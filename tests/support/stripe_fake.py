"""An in-memory Stripe account that answers like Stripe's API does for reads: list format with
``limit`` / ``starting_after`` / ``has_more`` (newest first), ``created[gte]``-style filters,
events, invoices with lines in either API shape (by ``Stripe-Version``), Stripe-shaped errors, 401
for a wrong key, 403 for a missing permission, and injectable 429 / ``Stripe-Should-Retry``.

For tests and for trying the sync by hand:
``python -m tests.support.stripe_fake --port 12111 --demo small`` (key: ``rk_test_fake``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from tests.support.stripe_fake_data import PREFIX, invoice_json, load_demo, render_lines

NEW_LINE_SHAPE = "2025-03-31"
PERMISSION = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "invoices": "invoice",
    "events": "event",
}


@dataclass(slots=True)
class Fault:
    path: str
    remaining: int
    status: int
    should_retry: bool | None
    retry_after: float | None


def _error(
    status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    body: dict[str, Any] = {"type": kind, "message": message}
    if code:
        body["code"] = code
    return status, {"error": body}, {}


class FakeStripe:
    def __init__(
        self,
        api_key: str = "rk_test_fake",
        *,
        default_version: str = "2024-06-20",
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.api_key = api_key
        self.default_version = default_version
        self.clock = clock or (lambda: int(time.time()))
        self.objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in PERMISSION}
        self.lines: dict[str, list[dict[str, Any]]] = {}  # invoice id -> [{id, price, quantity, ...}]
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.faults: list[Fault] = []
        self.forbidden: set[str] = set()
        self._order: dict[str, int] = {}
        self._seq = 0
        self._lock = threading.RLock()

    # -- the account ---------------------------------------------------------------------------
    def _next(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}_fake{self._seq:08d}"

    def add(self, kind: str, obj: dict[str, Any], *, event: bool = True) -> dict[str, Any]:
        with self._lock:
            obj = {
                "id": obj.get("id") or self._next(PREFIX[kind]),
                "object": kind.rstrip("s"),
                "created": self.clock(),
                **obj,
            }
            self._seq += 1
            self._order[obj["id"]] = self._seq
            self.objects[kind][obj["id"]] = obj
            if event:
                self._event(kind, "created", obj["id"])
            return obj

    def add_invoice(
        self, customer: str, items: list[tuple[str, int]], *, status: str = "paid", event: bool = True, **extra: Any
    ) -> dict[str, Any]:
        """An invoice with one line per (price id, quantity); amounts follow the prices."""
        with self._lock:
            cust = self.objects["customers"][customer]
            lines = []
            for n, (price_id, quantity) in enumerate(items):
                price = self.objects["prices"][price_id]
                lines.append(
                    {
                        "id": f"il_fake{self._seq + 1:08d}_{n}",
                        "price": price_id,
                        "quantity": quantity,
                        "amount": price["unit_amount"] * quantity,
                        "currency": price["currency"],
                    }
                )
            invoice = {
                "customer": customer,
                "customer_email": cust.get("email"),
                "customer_name": cust.get("name"),
                "currency": lines[0]["currency"],
                "status": status,
                "total": sum(li["amount"] for li in lines),
                **extra,
            }
            invoice = self.add("invoices", invoice, event=False)
            self.lines[invoice["id"]] = lines
            if event:
                self._event("invoices", "created", invoice["id"])
            return invoice

    def update(self, kind: str, object_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            self.objects[kind][object_id].update(changes)
            action = "paid" if kind == "invoices" and changes.get("status") == "paid" else "updated"
            self._event(kind, action, object_id)
            return self.objects[kind][object_id]

    def delete(self, kind: str, object_id: str) -> None:
        with self._lock:
            self._event(kind, "deleted", object_id)
            del self.objects[kind][object_id]

    def _event(self, kind: str, action: str, object_id: str) -> None:
        snapshot = self._render(kind, self.objects[kind][object_id], self.default_version)
        if action == "deleted":
            snapshot["deleted"] = True
        self.add("events", {"type": f"{kind[:-1]}.{action}", "data": {"object": snapshot}}, event=False)

    def fail_next(
        self,
        count: int = 1,
        status: int = 429,
        *,
        should_retry: bool | None = None,
        retry_after: float | None = None,
        path: str = "/",
    ) -> None:
        """The next ``count`` requests under ``path`` fail with ``status``."""
        with self._lock:
            self.faults.append(Fault(path, count, status, should_retry, retry_after))

    def load_demo(self, **kwargs: Any) -> None:
        load_demo(self, **kwargs)

    # -- the API -------------------------------------------------------------------------------
    def _render(self, kind: str, obj: dict[str, Any], version: str) -> dict[str, Any]:
        if kind != "invoices":
            return dict(obj)
        return invoice_json(obj, self._lines(obj, version))

    def _lines(self, invoice: dict[str, Any], version: str) -> list[dict[str, Any]]:
        lines = self.lines.get(invoice["id"], [])
        return render_lines(invoice, lines, self.objects["prices"], new_shape=version[:10] >= NEW_LINE_SHAPE)

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer "):
            return auth[7:] == self.api_key
        if auth.startswith("Basic "):
            return base64.b64decode(auth[6:]).decode().split(":")[0] == self.api_key
        return False

    def _page(
        self, items: list[dict[str, Any]], query: dict[str, list[str]], url: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        raw_limit = query.get("limit", ["10"])[0]
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            return _error(
                400, f"Invalid limit: must be between 1 and 100 (got {raw_limit})", code="parameter_invalid_integer"
            )
        limit, start = int(raw_limit), 0
        if after := query.get("starting_after", [None])[0]:
            ids = [item["id"] for item in items]
            if after not in ids:
                return _error(400, f"No such object: '{after}'", code="resource_missing")
            start = ids.index(after) + 1
        data = items[start : start + limit]
        return 200, {"object": "list", "url": url, "has_more": start + limit < len(items), "data": data}, {}

    def _filter(self, kind: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        items = sorted(self.objects[kind].values(), key=lambda o: (o["created"], self._order[o["id"]]), reverse=True)
        for op, test in (("gte", int.__ge__), ("gt", int.__gt__), ("lte", int.__le__), ("lt", int.__lt__)):
            if (value := query.get(f"created[{op}]", [None])[0]) is not None:
                items = [o for o in items if test(o["created"], int(value))]
        types = query.get("types[]", []) + query.get("type", [])
        if kind == "events" and types:
            items = [o for o in items if o["type"] in types]
        if email := query.get("email", [None])[0]:
            items = [o for o in items if o.get("email") == email]
        return items

    def handle(
        self, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append((path, query))
            if not self._authorized(headers):
                key = headers.get("authorization", "").split(" ")[-1]
                if not key:
                    return _error(401, "You did not provide an API key.")
                return _error(401, f"Invalid API Key provided: {key[:8]}****{key[-4:]}")
            for fault in self.faults:
                if fault.remaining > 0 and path.startswith(fault.path):
                    fault.remaining -= 1
                    extra = {}
                    if fault.should_retry is not None:
                        extra["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
                    if fault.retry_after is not None:
                        extra["Retry-After"] = str(fault.retry_after)
                    kind = "rate_limit_error" if fault.status == 429 else "api_error"
                    return fault.status, {"error": {"type": kind, "message": "Request failed (injected fault)."}}, extra
            parts = path.strip("/").split("/")
            if len(parts) < 2 or parts[0] != "v1" or parts[1] not in PERMISSION:
                return _error(404, f"Unrecognized request URL (GET: {path}).")
            kind = parts[1]
            if kind in self.forbidden:
                return _error(
                    403,
                    f"The provided key '{self.api_key[:8]}****' does not have the required permissions for this "
                    f"endpoint on account 'acct_fake'. Having the 'rak_{PERMISSION[kind]}_read' permission would "
                    "allow this request to continue.",
                )
            version = headers.get("stripe-version", self.default_version)
            if len(parts) == 2:
                items = [self._render(kind, o, version) for o in self._filter(kind, query)]
                return self._page(items, query, f"/v1/{kind}")
            obj = self.objects[kind].get(parts[2])
            if obj is None:
                return _error(404, f"No such {kind[:-1]}: '{parts[2]}'", code="resource_missing")
            if len(parts) == 3:
                return 200, self._render(kind, obj, version), {}
            if kind == "invoices" and parts[3:] == ["lines"]:
                return self._page(self._lines(obj, version), query, f"/v1/invoices/{obj['id']}/lines")
            return _error(404, f"Unrecognized request URL (GET: {path}).")

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["method"] != "GET":
            status, body, extra = _error(405, "This fake Stripe account is read-only.")
        else:
            status, body, extra = self.handle(scope["path"], parse_qs(scope["query_string"].decode()), headers)
        payload = json.dumps(body).encode()
        out = [(b"content-type", b"application/json"), (b"request-id", b"req_fake")]
        out += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})


def main() -> None:  # pragma: no cover - a manual tool
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="a local, in-memory Stripe account for trying the sync")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--key", default="rk_test_fake")
    parser.add_argument("--demo", choices=["small", "full", "none"], default="small")
    args = parser.parse_args()
    fake = FakeStripe(args.key)
    if args.demo != "none":
        from proxy.shop.demo_data import FULL, SMALL

        fake.load_demo(size=SMALL if args.demo == "small" else FULL)
    uvicorn.run(fake, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":  # pragma: no cover
    main()
