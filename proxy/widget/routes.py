"""``GET /widget.js``, ``GET /v1/widget-config`` and the demo pages (``GET /demo``, ``/demo/account``, ``/demo/staff``).

``/widget.js`` is a public script: any page may load it, so it is not tied to a tenant; the
tenant is known only when the script asks for its configuration (by the page's ``Origin``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader

from proxy.api.deps import CallerDep
from proxy.widget.bundle import WIDGET_DIR, current_bundle
from proxy.widget.demo_pages import demo_page_routes

JS_TYPE = "text/javascript"  # Litestar appends "; charset=utf-8"
SCRIPT_CACHE = "public, max-age=300"
CONFIG_CACHE = "public, max-age=60"


def _etag_matches(header: str | None, *etags: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    offered = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return any(tag in offered for tag in etags)


def _accepts_gzip(header: str | None) -> bool:
    for item in (header or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and float(q[2:] or 0) == 0)
    return False


@get("/widget.js", include_in_schema=False, sync_to_thread=False)
def widget_script(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The embeddable widget; gzipped when the browser accepts it; 304 when unchanged."""
    bundle = current_bundle()
    gzipped = _accepts_gzip(request.headers.get("accept-encoding"))
    etag = bundle.gzip_etag if gzipped else bundle.etag
    headers = {
        "ETag": etag,
        "Cache-Control": SCRIPT_CACHE,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",  # a public script, also for <script crossorigin>
        "Cross-Origin-Resource-Policy": "cross-origin",  # loadable by pages with COEP
    }
    if _etag_matches(request.headers.get("if-none-match"), bundle.etag, bundle.gzip_etag):
        return Response(b"", status_code=304, headers=headers, media_type=JS_TYPE)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(bundle.gzipped if gzipped else bundle.body, headers=headers, media_type=JS_TYPE)


@get(
    "/v1/widget-config",
    summary="How the widget looks on the calling site",
    tags=["widget"],
    cache_control=CacheControlHeader(public=True, max_age=60),
)
async def widget_config(caller: CallerDep) -> Response[dict[str, Any]]:
    """The calling tenant's ``[widget]`` section (title, colours, greeting, ...), public by nature."""
    body = caller.tenant.config.widget.public()
    body["tenant"] = caller.tenant.name  # scopes the visitor's stored thread id
    return Response(body, headers={"Vary": "Origin"})


@lru_cache(maxsize=1)
def _demo_avatar() -> bytes:
    return (WIDGET_DIR / "demo" / "avatar.svg").read_bytes()


@get("/demo/avatar.svg", include_in_schema=False, sync_to_thread=False)
def demo_avatar() -> Response[bytes]:
    return Response(
        _demo_avatar(),
        media_type="image/svg+xml",
        headers={"Cache-Control": SCRIPT_CACHE, "Cross-Origin-Resource-Policy": "cross-origin"},
    )


widget_routes: list[Any] = [widget_script, widget_config, *demo_page_routes, demo_avatar]
