"""Airbyte's real PGVector destination (``airbyte-destination-pgvector`` from PyPI), installed once
into its own cached virtualenv and fed with Airbyte RECORD messages of a Stripe-format shop.

- The virtualenv lives in ``$AIRBYTE_DESTINATION_VENV`` or ``~/.cache/assistant-proxy/airbyte-venv``
  and is rebuilt only when ``airbyte/requirements.txt`` changes; building it is bounded in time.
- The destination's text splitter would download GPT-2's BPE files at run time; ``run_destination.py``
  gives it a local length function instead (the only change to its behaviour).
- Embeddings: the destination's ``fake`` mode (random 1536-dimensional vectors), or its
  ``openai_compatible`` mode pointed at our local OpenAI-protocol simulator.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from proxy.shop.demo_data import DemoSize
from tests.support.stripe_fake import FakeStripe

HERE = Path(__file__).parent / "airbyte"
REQUIREMENTS = HERE / "requirements.txt"
RUNNER = HERE / "run_destination.py"
INSTALL_TIMEOUT = 900.0  # seconds for creating the virtualenv and installing the pinned packages
WRITE_TIMEOUT = 600.0


class DestinationUnavailable(RuntimeError):
    pass


def venv_dir() -> Path:
    default = Path.home() / ".cache" / "assistant-proxy" / "airbyte-venv"
    return Path(os.environ.get("AIRBYTE_DESTINATION_VENV") or default)


def destination_python() -> Path:
    """The cached virtualenv's python, built first if missing or stale."""
    target = venv_dir()
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + RUNNER.name.encode()).hexdigest()[:16]
    python = target / "bin" / "python"
    marker = target / ".requirements-digest"
    if python.exists() and marker.exists() and marker.read_text() == digest:
        return python
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("cython<3\n")  # an old build-time pin in the destination's tree
        env = {**os.environ, "PIP_CONSTRAINT": str(constraints), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        try:
            subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, timeout=120, capture_output=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--no-deps", "-q", "-r", str(REQUIREMENTS)],
                check=True,
                timeout=INSTALL_TIMEOUT,
                capture_output=True,
                env=env,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            tail = (exc.stderr or b"").decode(errors="replace")[-2000:]
            shutil.rmtree(target, ignore_errors=True)
            raise DestinationUnavailable(f"cannot install airbyte-destination-pgvector: {exc}\n{tail}") from None
    marker.write_text(digest)
    return python


# -- a Stripe-format shop, as Airbyte's Stripe sources emit it -----------------------------------

SIZE = DemoSize(products=30, customers=300, invoices=2000)
TUTORIAL_STREAMS = ("products", "customers", "invoices")
NATIVE_STREAMS = ("products", "prices", "customers", "invoices", "invoice_line_items")


def stripe_records(*, version: str, size: DemoSize = SIZE) -> dict[str, list[dict[str, Any]]]:
    """Every stream either layout can have: invoices carry their lines under ``lines.data`` (in the
    shape of API ``version``), and ``invoice_line_items`` holds the same lines with ``invoice_id``."""
    fake = FakeStripe(default_version=version)
    fake.load_demo(size=size)
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in NATIVE_STREAMS}
    for kind in ("products", "prices", "customers", "invoices"):
        for obj in fake.objects[kind].values():
            out[kind].append(fake._render(kind, obj, version))
    for invoice in fake.objects["invoices"].values():
        for line in fake._lines(invoice, version):
            out["invoice_line_items"].append({**line, "invoice_id": invoice["id"]})
    return out


def catalog(streams: Iterable[str], *, dedup: bool = False) -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {"type": "object", "properties": {}},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_primary_key": [["id"]],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "append_dedup" if dedup else "overwrite",
                "primary_key": [["id"]],
            }
            for name in streams
        ]
    }


def messages(records: dict[str, list[dict[str, Any]]], streams: Iterable[str]) -> str:
    lines = []
    for stream in streams:
        for record in records[stream]:
            msg = {"type": "RECORD", "record": {"stream": stream, "data": record, "emitted_at": 1764547200000}}
            lines.append(json.dumps(msg))
    return "\n".join(lines) + "\n"


def indexing(pg_url: str, schema: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The destination's connection settings, and environment for libpq (a socket directory as
    host cannot go into the URL the destination builds, but libpq reads it from PGHOST)."""
    info = conninfo_to_dict(pg_url)
    host = str(info.get("host") or "")
    env = {}
    if host.startswith("/"):
        env["PGHOST"], host = host, ""
    config = {
        "host": host,
        "port": int(info.get("port") or 5432),
        "database": str(info.get("dbname") or "postgres"),
        "default_schema": schema,
        "username": str(info.get("user") or "postgres"),
        "credentials": {"password": str(info.get("password") or "unused")},
    }
    return config, env


def write_tables(
    python: Path,
    pg_url: str,
    *,
    schema: str,
    records: dict[str, list[dict[str, Any]]],
    streams: Iterable[str],
    processing: dict[str, Any],
    embedding: dict[str, Any] | None = None,
    dedup: bool = False,
) -> dict[str, str]:
    """Run the destination's ``write`` on the streams; returns stream -> table."""
    streams = list(streams)
    index, env = indexing(pg_url, schema)
    config = {"processing": processing, "embedding": embedding or {"mode": "fake"}, "indexing": index}
    with tempfile.TemporaryDirectory(prefix="airbyte-write-") as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        (Path(tmp) / "catalog.json").write_text(json.dumps(catalog(streams, dedup=dedup)))
        done = subprocess.run(
            [str(python), str(RUNNER), "write", "--config", "config.json", "--catalog", "catalog.json"],
            input=messages(records, streams).encode(),
            cwd=tmp,
            env={**os.environ, **env, "HOME": tmp, "DO_NOT_TRACK": "1"},
            capture_output=True,
            timeout=WRITE_TIMEOUT,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"the destination failed ({done.returncode}):\n{done.stdout.decode()[-3000:]}"
            f"\n{done.stderr.decode()[-3000:]}"
        )
    return {stream: f"{schema}.{stream}" for stream in streams}
