"""A real nginx in front of a test server, configured as docs/production.md recommends.

Started in the foreground from a temporary prefix on a free loopback port; the tests that use it
are skipped where nginx is not installed (Debian: ``apt-get install nginx-light``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.ports import free_port

# the server block of docs/production.md, without TLS
CONFIG = """
user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    gzip on;                            # compression for everything else, as sites usually have
    gzip_types text/event-stream application/json application/javascript;

    upstream assistant_proxy {{
        server {upstream};
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{port};

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;

        location ~ ^/(v1|open-ai)/ {{
            proxy_pass http://assistant_proxy;
            proxy_buffering off;
            proxy_cache off;
            gzip off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            client_max_body_size 64k;
        }}

        location / {{
            proxy_pass http://assistant_proxy;
        }}
    }}
}}
"""


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def nginx_in_front(upstream: str, prefix: Path, *, timeout: float = 15.0) -> Iterator[str]:
    """Run nginx proxying to ``upstream`` (``host:port``); yields its base URL."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(CONFIG.format(prefix=prefix, upstream=upstream, port=port))
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + timeout
        while not _accepting(port):
            if process.poll() is not None:
                raise RuntimeError(f"nginx did not start: {process.stderr.read().decode() if process.stderr else ''}")
            if time.monotonic() > deadline:
                raise TimeoutError("nginx did not start listening")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
