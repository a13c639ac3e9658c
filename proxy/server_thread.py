"""Run an ASGI app under uvicorn in a background thread, on a free loopback port.

Used where a real HTTP server must sit beside other work in one process: the simulator inside
``demo``, and the integration tests.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerThread:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None, **options: Any) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name=f"uvicorn:{self.port}", daemon=True)
        self._started = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerThread:
        self._thread.start()
        # uvicorn sets `started` after lifespan start-up and binding; poll it via a join timeout
        while not self.server.started:
            self._thread.join(0.01)
            if not self._thread.is_alive():
                raise RuntimeError(f"server on port {self.port} failed to start")
            timeout -= 0.01
            if timeout <= 0:
                raise TimeoutError(f"server on port {self.port} did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()
