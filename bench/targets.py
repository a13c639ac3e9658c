"""The processes under test: start each as its own process tree, watch its CPU and memory, stop it.

* the simulator (``uvicorn proxy.simulator.app:create_simulator_app --factory``), the floor;
* our proxy (``python -m proxy serve``, one worker unless asked for more) with a ``chat`` tenant in
  front of the simulator; or the same app under Granian (``python -m granian``, when installed);
* LiteLLM's proxy (``litellm --config bench/litellm.yaml --num_workers 1``), from its own virtualenv
  in ``$BENCH_LITELLM_VENV`` or ``~/.cache/assistant-proxy/litellm-venv`` (installed on first use, its
  dependencies clash with ours; outside the checkout, so fresh clones on one machine share it).

Postgres for our proxy is embedded (pgserver) and started here, so restarting the proxy is cheap;
``--database-url`` uses another server instead.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
LITELLM_VENV = Path(os.environ.get("BENCH_LITELLM_VENV") or Path.home() / ".cache" / "assistant-proxy" / "litellm-venv")
LITELLM_REQUIREMENT = "litellm[proxy]"
LITELLM_HEALTHCHECK_S = 120  # LiteLLM's --timeout_worker_healthcheck (uvicorn's default: 5)
MODEL = "gpt-4.1-mini"
PROVIDER_KEY = "sk-bench"
ORIGIN = "http://bench.local"


class StartError(Exception):
    """A target could not be started; the message says why (with the end of its log)."""


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that ``finally`` blocks stop the targets this process started."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A started process tree (plus, for our proxy, the Postgres processes it talks to)."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    extra: list[psutil.Process] = field(default_factory=list)  # measured apart, e.g. Postgres

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group is ours: start_new_session
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def tree_usage(processes: list[psutil.Process]) -> tuple[float, int]:
    """CPU seconds (user + system) and resident memory of some processes, the gone ones skipped."""
    cpu, rss = 0.0, 0
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            cpu += times.user + times.system
            rss += proc.memory_info().rss
    return cpu, rss


def _launch(name: str, argv: list[str], env: dict[str, str], workdir: Path, port: int, cwd: Path = ROOT) -> Service:
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=raise_fd_limit,
    )
    log.close()
    return Service(name, proc, port, log_path)


def _wait_ready(service: Service, path: str, timeout: float, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not service.alive():
                raise StartError(f"{service.name} exited with {service.proc.returncode}:\n{service.log_tail()}")
            request = urllib.request.Request(service.url + path, headers=headers or {})
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status < 500:
                        return
            except OSError:
                pass
            time.sleep(0.2)
    except BaseException:  # stopped while waiting (SIGTERM, Ctrl-C): nobody else knows this process yet
        service.stop()
        raise
    service.stop()
    raise StartError(f"{service.name} did not answer {path} within {timeout:.0f} s:\n{service.log_tail()}")


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXY_", "LITELLM_", "OPENAI_"))}
    env.pop("DATABASE_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# -- the simulator -------------------------------------------------------------------------------


def start_simulator(workdir: Path, *, workers: int = 1) -> Service:
    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "proxy.simulator.app:create_simulator_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log", "--backlog", "4096",
    ]  # fmt: skip
    service = _launch("simulator", argv, _base_env(), workdir, port)
    _wait_ready(service, "/v1/models", 60, {"Authorization": f"Bearer {PROVIDER_KEY}"})
    return service


# -- Postgres and our proxy ----------------------------------------------------------------------


@dataclass
class Postgres:
    """The embedded Postgres (the product's own, proxy.store.embedded) in the bench's work folder."""

    url: str
    data_dir: Path

    def stop(self) -> None:
        from proxy.store import embedded

        with contextlib.suppress(Exception):
            embedded.release(self.data_dir)  # before the folder goes: pg_ctl needs it


def start_postgres(workdir: Path) -> Postgres:
    from proxy.store import embedded

    data_dir = workdir / "postgres"
    return Postgres(embedded.acquire(data_dir), data_dir)


def postgres_processes(data_dir: Path | None) -> list[psutil.Process]:
    if data_dir is None:
        return []
    needle = str(data_dir)
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] == "postgres" and needle in " ".join(proc.info["cmdline"] or ()):
                found.append(proc)
    # the postmaster's children (backends) carry no data dir in their command line
    result = list(found)
    for proc in found:
        with contextlib.suppress(psutil.Error):
            result.extend(proc.children(recursive=True))
    return list({p.pid: p for p in result}.values())


# All load comes from one address and one tenant: the rate limits stay on (their cost is part of
# a request's) but so high that they never refuse.
_NO_REFUSALS = 100_000_000
_LIMITS = ("messages_per_minute_per_visitor", "messages_per_minute_per_ip", "messages_per_minute_per_tenant",
           "threads_per_hour_per_ip")  # fmt: skip


def _tenant(name: str, domain: str, engine: str, simulator: Service) -> list[str]:
    return [
        f"[tenants.{name}]",
        f'domains = ["{domain}"]',
        f'engine = "{engine}"',
        f'model = "{MODEL}"',
        'api_key_env = "BENCH_PROVIDER_KEY"',
        f'base_url = "{simulator.url}/v1"',
        "",
        f"[tenants.{name}.limits]",
        *(f"{limit} = {_NO_REFUSALS}" for limit in _LIMITS),
        "",
    ]


def write_tenants(workdir: Path, simulator: Service, *, with_responses: bool) -> Path:
    lines = _tenant("bench", "bench.local", "chat", simulator)
    if with_responses:
        lines += _tenant("bench-responses", "responses.bench.local", "responses", simulator)
    path = workdir / "tenants.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


PROXY_SETTINGS = {
    # only what the bench needs; everything else stays at the product's defaults
    "PROXY_PROVIDER_READ_TIMEOUT": "600",  # idle streams are silent upstream on purpose
    "PROXY_TURN_TIMEOUT": "900",
    "PROXY_SHUTDOWN_GRACE": "1",  # stopping the bench's proxy need not wait for streams it abandoned
    # a chat the load generator gives up on (overload, end of the idle test) is cancelled at once
    # rather than kept 10 s for a reconnect that will not come, so it does not load the next run
    "PROXY_DISCONNECT_GRACE": "0",
    # the proxy never purges on its own schedule: bench/purge_bench.py purges when it measures
    "PROXY_RETENTION_CONVERSATIONS_DAYS": "0",
}


def start_proxy(
    workdir: Path,
    simulator: Service,
    database_url: str,
    *,
    with_responses: bool = False,
    name: str = "proxy",
    checkout: Path = ROOT,
    workers: int = 1,
    server: str = "uvicorn",
) -> Service:
    """``python -m proxy serve`` run from ``checkout`` (another copy of the repo, for before/after runs).

    ``server="granian"``: the same app (``proxy.app:serve_app``) and settings under Granian instead.
    """
    port = free_port()
    env = _base_env() | PROXY_SETTINGS
    env |= {
        "PROXY_TENANTS_FILE": str(write_tenants(workdir, simulator, with_responses=with_responses)),
        "PROXY_DATA_DIR": str(workdir / "proxy-data"),
        "DATABASE_URL": database_url,
        "BENCH_PROVIDER_KEY": PROVIDER_KEY,
    }
    if server == "granian":
        argv = granian_argv(port, workers)
        if workers > 1:  # what `serve` does for uvicorn: the workers' metrics in one folder
            env["PROMETHEUS_MULTIPROC_DIR"] = str(Path(tempfile.mkdtemp(prefix="metrics-", dir=workdir)))
    else:
        argv = [sys.executable, "-m", "proxy", "serve", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", str(workers)]
    service = _launch(name, argv, env, workdir, port, cwd=checkout)
    _wait_ready(service, "/healthz", 90)
    return service


def granian_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("granian") is not None


def granian_argv(port: int, workers: int) -> list[str]:
    """Our app under Granian: its Rust HTTP server and event loop glue, uvloop, no websockets."""
    return [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "proxy.app:serve_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--loop", "uvloop",
        "--no-ws", "--log-level", "warning", "--backlog", "4096", "--workers-kill-timeout", "10",
    ]  # fmt: skip


# -- LiteLLM -------------------------------------------------------------------------------------


def litellm_executable() -> Path:
    return LITELLM_VENV / "bin" / "litellm"


def ensure_litellm(log: Path, *, install: bool = True) -> Path:
    """LiteLLM's CLI from its own virtualenv, created on first use (a minute or two)."""
    exe = litellm_executable()
    if exe.exists():
        return exe
    if LITELLM_VENV.is_symlink() or LITELLM_VENV.exists():  # a broken or half-made one
        if LITELLM_VENV.is_symlink():
            LITELLM_VENV.unlink()
        else:
            shutil.rmtree(LITELLM_VENV, ignore_errors=True)
    if not install:
        raise StartError(f"LiteLLM is not installed in {LITELLM_VENV} (run without --no-install)")
    WORK.mkdir(parents=True, exist_ok=True)
    LITELLM_VENV.parent.mkdir(parents=True, exist_ok=True)
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not python.exists():
        python = Path(shutil.which("python3") or sys.executable)
    with log.open("ab") as out:
        steps = [
            [str(python), "-m", "venv", str(LITELLM_VENV)],
            [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", LITELLM_REQUIREMENT],
        ]
        for argv in steps:
            if subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode != 0:
                shutil.rmtree(LITELLM_VENV, ignore_errors=True)
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise StartError(f"could not install {LITELLM_REQUIREMENT}:\n{tail}")
    return exe


def litellm_version() -> str | None:
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or None


def start_litellm(
    workdir: Path, simulator: Service, *, install: bool = True, workers: int = 1, name: str = "litellm"
) -> tuple[Service, str]:
    """LiteLLM (one worker by default), no database, no callbacks; returns the service and its master key."""
    exe = ensure_litellm(workdir / "litellm-install.log", install=install)
    port = free_port()
    master_key = "sk-" + secrets.token_hex(32)  # LiteLLM refuses to start without one
    env = _base_env() | {
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOG": "ERROR",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list at start-up
        "BENCH_SIMULATOR_BASE": f"{simulator.url}/v1",
        "BENCH_PROVIDER_KEY": PROVIDER_KEY,
        # uvicorn's supervisor restarts a worker that does not answer its ping within 5 s; a worker
        # still importing LiteLLM on a busy machine does not, and was restarted again and again
        "TIMEOUT_WORKER_HEALTHCHECK": str(LITELLM_HEALTHCHECK_S),
    }
    argv = [
        str(exe), "--config", str(BENCH / "litellm.yaml"),
        "--host", "127.0.0.1", "--port", str(port), "--num_workers", str(workers),
    ]  # fmt: skip
    service = _launch(name, argv, env, workdir, port)
    _wait_ready(service, "/health/liveliness", 180 * workers)  # each worker loads all of LiteLLM
    return service, master_key
