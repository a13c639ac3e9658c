"""Running an ASGI app under uvicorn: in a background thread (the simulator, or any app a test or a
benchmark serves beside its own work), or in the foreground for the CLI."""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn

from proxy.simulator.app import create_simulator_app
from proxy.simulator.config import SimulatorConfig

if TYPE_CHECKING:
    from typing import Self

    from proxy.simulator.state import SimulatorState

__all__ = ("ServerThread", "SimulatorServer", "run_simulator", "serve")

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_SIMULATOR_GRACE = 1  # seconds streams still open get to end when the simulator stops


class _Server(uvicorn.Server):
    """Tells the starting thread as soon as uvicorn is listening (or gave up)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


class ServerThread:
    """Any ASGI ``app`` under uvicorn on ``host`` (loopback by default) and a free port, served from
    a background thread; ``uvicorn_options`` go to :class:`uvicorn.Config` as they are.

    ::

        with ServerThread(app, proxy_headers=False) as server:
            httpx.get(f"{server.url}/healthz")

    The port is bound before uvicorn starts and ``start()`` returns once uvicorn reports it is
    serving (lifespan start-up included), so the first request never races the startup. A stopped
    server can be started again.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._options = uvicorn_options
        self._port: int | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._port = sock.getsockname()[1]
        options: dict[str, Any] = {"log_config": None, "log_level": "warning", "access_log": False, "lifespan": "on"}
        options.update(self._options)
        server = self._server = _Server(uvicorn.Config(self.app, **options))

        def run() -> None:
            try:
                server.run(sockets=[sock])
            finally:
                server.ready.set()
                sock.close()

        self._thread = threading.Thread(target=run, name=f"uvicorn:{self._port}", daemon=True)
        self._thread.start()
        if not server.ready.wait(_START_TIMEOUT) or not server.started:
            port = self._port
            self.stop()
            raise RuntimeError(f"the server on port {port} did not start")
        return self

    def stop(self) -> None:
        """Stop serving; streams still open get uvicorn's ``timeout_graceful_shutdown`` to end, and
        are cut when the thread has not ended after a further wait."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        self._server = self._thread = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "stopped"
        return f"<{type(self).__name__} {where}>"


class SimulatorServer(ServerThread):
    """The simulator, served from a background thread::

    with SimulatorServer() as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test")
    """

    def __init__(self, config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SimulatorConfig()
        super().__init__(
            create_simulator_app(self.config), host=host, port=port, timeout_graceful_shutdown=_SIMULATOR_GRACE
        )

    @property
    def root_url(self) -> str:
        return self.url

    @property
    def base_url(self) -> str:
        """What the OpenAI SDK takes as ``base_url``."""
        return f"{self.root_url}/v1"

    @property
    def state(self) -> SimulatorState:
        """The live state, for tests that want to look inside."""
        return self.app.state.sim  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "stopped"
        return f"<SimulatorServer {where}>"


async def serve(
    host: str = "127.0.0.1", port: int = 8787, config: SimulatorConfig | None = None, **uvicorn_options: Any
) -> None:
    """Serve the simulator in the running event loop until the process is told to stop."""
    options: dict[str, Any] = {"access_log": False, "timeout_graceful_shutdown": 2, "lifespan": "on"}
    options.update(uvicorn_options)
    server = uvicorn.Server(uvicorn.Config(create_simulator_app(config), host=host, port=port, **options))
    await server.serve()


def run_simulator(host: str, port: int, config: SimulatorConfig) -> None:
    """Blocking entry point of ``python -m proxy simulate``."""
    asyncio.run(serve(host, port, config))
