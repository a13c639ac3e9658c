"""What to change when a doctor check fails, for the three front ends deployments usually have.

Each fix names the cause in one sentence, then gives a snippet for nginx, Caddy and Cloudflare.
``UPSTREAM`` in the snippets is the address the proxy service listens on (e.g. 127.0.0.1:8000).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fix:
    why: str
    nginx: str
    caddy: str
    cloudflare: str

    def render(self, indent: str = "  ") -> str:
        def block(title: str, text: str) -> list[str]:
            return [
                f"{indent}{title}:",
                *(f"{indent}    {line}" if line else "" for line in text.strip("\n").splitlines()),
            ]

        lines = [f"{indent}{self.why}"]
        lines += block("nginx", self.nginx)
        lines += block("Caddy", self.caddy)
        lines += block("Cloudflare", self.cloudflare)
        return "\n".join(lines)


_NGINX_SSE = """
location /v1/ {
    proxy_pass http://UPSTREAM;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_buffering off;        # pass each event on as it arrives
    proxy_cache off;
    gzip off;                   # compression holds events back
    proxy_read_timeout 1h;      # a reply may stay quiet between heartbeats
}
"""

_CADDY_SSE = """
shop-chat.example.com {
    # compress the pages and the widget, never the API (its replies are event streams)
    @compressible not path /v1/* /open-ai/*
    encode @compressible zstd gzip
    reverse_proxy UPSTREAM {
        flush_interval -1       # write every event through at once
    }
}
"""

_CLOUDFLARE_SSE = """
Cloudflare streams dynamic responses, but not cached or buffered ones:
- Caching > Cache Rules: URI Path starts with "/v1/" -> Bypass cache.
- Network > Response Buffering (Enterprise): Off.
- Rules > Compression Rules: Media Type is "text/event-stream" -> Disable compression.
- Keep PROXY_HEARTBEAT_INTERVAL well under 100 s, Cloudflare's idle limit (e.g. 15).
"""

FIXES: dict[str, Fix] = {
    "widget": Fix(
        why="/widget.js must reach the proxy untouched: 200, a JavaScript Content-Type and its ETag "
        "(browsers refuse scripts served as text/html or text/plain with nosniff).",
        nginx="""
location = /widget.js {
    proxy_pass http://UPSTREAM;
    # no 'default_type', 'add_header Content-Type' or 'proxy_hide_header ETag' here
}
""",
        caddy="""
handle /widget.js {
    reverse_proxy UPSTREAM      # no 'header -ETag' or Content-Type overrides
}
""",
        cloudflare="""
A Cache Rule may cache /widget.js (it is public), but make sure no Transform Rule removes
ETag or changes Content-Type, and that no redirect or Access policy sits in front of it.
""",
    ),
    "cors": Fix(
        why="The browser sends a CORS preflight (OPTIONS) before each POST; it must reach the proxy "
        "and come back with Access-Control-Allow-Origin for the site. First check that the site's "
        "host is in the tenant's `domains`; then that the front end passes OPTIONS and the "
        "Access-Control-* headers through instead of answering or stripping them itself.",
        nginx="""
location /v1/ {
    proxy_pass http://UPSTREAM;       # OPTIONS too: no 'if ($request_method = OPTIONS) { return 204; }'
    # no 'add_header Access-Control-*' here (duplicates break CORS) and no proxy_hide_header for them
}
""",
        caddy="""
reverse_proxy /v1/* UPSTREAM          # no 'header' directives that set or delete Access-Control-*
""",
        cloudflare="""
- Rules > Transform Rules: no response-header rule that removes or overrides Access-Control-*.
- Caching > Cache Rules: bypass cache for /v1/* so a preflight answered for one origin is not
  served to another (the proxy sends Vary: Origin).
- Security: a WAF or Bot rule that challenges OPTIONS requests fails every preflight.
""",
    ),
    "stream": Fix(
        why="Events must reach the browser one by one as they are written. Something between the "
        "proxy and the browser collects the response and sends it at the end (response buffering "
        "or compression), so the reply appears all at once.",
        nginx=_NGINX_SSE,
        caddy=_CADDY_SSE,
        cloudflare=_CLOUDFLARE_SSE,
    ),
    "compression": Fix(
        why="The event stream arrived compressed. A compressor waits for a block of data before it "
        "emits anything, which holds events back; turn compression off for text/event-stream.",
        nginx="""
location /v1/ {
    proxy_pass http://UPSTREAM;
    gzip off;                   # or leave text/event-stream out of gzip_types
    brotli off;                 # if the brotli module is loaded
    proxy_buffering off;
}
""",
        caddy="""
@compressible not path /v1/* /open-ai/*
encode @compressible zstd gzip
""",
        cloudflare="""
Rules > Compression Rules: when Media Type is "text/event-stream" -> Disable compression.
""",
    ),
    "stream_headers": Fix(
        why="The stream must be sent as text/event-stream with Cache-Control: no-cache; a front end "
        "that rewrites these headers (or caches the response) breaks streaming.",
        nginx="""
location /v1/ {
    proxy_pass http://UPSTREAM;
    proxy_cache off;            # and no 'add_header Cache-Control ...' / 'expires' here
    proxy_buffering off;
}
""",
        caddy="""
reverse_proxy /v1/* UPSTREAM    # no 'header Cache-Control' overrides for /v1/*
""",
        cloudflare="""
Caching > Cache Rules: URI Path starts with "/v1/" -> Bypass cache (no Edge TTL override).
""",
    ),
    "heartbeat": Fix(
        why="While the model is quiet the proxy sends ': ping' comments every PROXY_HEARTBEAT_INTERVAL "
        "seconds so that no proxy drops the idle connection. They did not arrive in time: either "
        "they are buffered with the rest of the stream, or the interval is longer than an idle "
        "timeout on the way.",
        nginx="""
location /v1/ {
    proxy_pass http://UPSTREAM;
    proxy_buffering off;
    proxy_read_timeout 1h;      # longer than PROXY_HEARTBEAT_INTERVAL
}
""",
        caddy="""
reverse_proxy /v1/* UPSTREAM {
    flush_interval -1
}
""",
        cloudflare="""
Proxied connections are closed after about 100 s without data: keep PROXY_HEARTBEAT_INTERVAL at
15-30 s and bypass cache for /v1/*.
""",
    ),
}

# several checks share one remedy
FIX_FOR_CHECK = {
    "widget": "widget",
    "cors_threads": "cors",
    "create_thread": "cors",
    "cors_messages": "cors",
    "stream_headers": "stream_headers",
    "compression": "compression",
    "unbuffered": "stream",
    "heartbeat": "heartbeat",
}


def fix_for(check: str) -> Fix | None:
    key = FIX_FOR_CHECK.get(check)
    return FIXES.get(key) if key else None
