"""The files ``python -m proxy demo`` keeps in the data folder, and how other commands find them.

``demo-tenants.toml`` is the demo's tenants file; ``demo-secrets.env`` holds the secrets it names
(the demo tenant's client key and identity secret), generated once with :mod:`secrets` and readable
by the owner only. With nothing else configured, the one-off commands (``tools call``, ``usage``,
``identity-token``, ...) use both, so they work right after ``demo`` with no extra environment.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import MutableMapping
from pathlib import Path

from dotenv import dotenv_values

from proxy.settings import Settings

TENANTS_NAME = "demo-tenants.toml"
SECRETS_NAME = "demo-secrets.env"
CLIENT_KEY_ENV = "DEMO_CLIENT_KEY"
IDENTITY_SECRET_ENV = "DEMO_IDENTITY_SECRET"

# What each generated secret looks like: a recognisable prefix for the key, 32 random bytes each.
_GENERATORS = {
    CLIENT_KEY_ENV: lambda: "ck_demo_" + secrets.token_urlsafe(32),
    IDENTITY_SECRET_ENV: lambda: secrets.token_urlsafe(32),
}

# sha256 of tenants files written by earlier versions of ``demo`` (never edited by their owner):
# they lack the secrets' names, so they are replaced by the current one.
_EARLIER_TENANTS = frozenset(
    {
        "de4edb850e76e900b847ae70ba913b62dec5fad108c668aceca6cfd792d29821",
        "ff992dcfe0225bf071641507b71cb073c5c72468f437799f2198261816cd2bcd",
    }
)


def tenants_path(data_dir: Path) -> Path:
    return data_dir / TENANTS_NAME


def secrets_path(data_dir: Path) -> Path:
    return data_dir / SECRETS_NAME


def write_tenants_file(data_dir: Path, text: str) -> Path:
    """Write the demo's tenants file unless the owner has one (an untouched old one is replaced)."""
    path = tenants_path(data_dir)
    if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() not in _EARLIER_TENANTS:
        return path
    path.write_text(text, encoding="utf-8")
    return path


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (then rename over the old file)."""
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def ensure_secrets(data_dir: Path) -> dict[str, str]:
    """The demo's secrets from ``demo-secrets.env``; the missing ones are generated and saved."""
    path = secrets_path(data_dir)
    found = {k: v for k, v in dotenv_values(path).items() if v} if path.exists() else {}
    missing = [name for name in _GENERATORS if name not in found]
    if missing:
        found.update({name: _GENERATORS[name]() for name in missing})
        lines = [
            "# The demo tenant's secrets, generated once by `python -m proxy demo`. Keep this file private.",
            "# demo-tenants.toml names these variables (client_key_envs, identity_secret_env).",
            *(f"{name}={value}" for name, value in found.items()),
        ]
        _write_private(path, "\n".join(lines) + "\n")
    return found


def load_secrets(data_dir: Path, env: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Put the demo's secrets into ``env`` (the process environment); values already set win."""
    env = os.environ if env is None else env
    values = ensure_secrets(data_dir)
    for name, value in values.items():
        env.setdefault(name, value)
    return {name: env[name] for name in values}


def use_demo_files(settings: Settings | None = None, env: MutableMapping[str, str] | None = None) -> Path | None:
    """With no tenants configured, point ``PROXY_TENANTS_FILE`` at the demo's file (if ``demo`` ran).

    Whenever the tenants file in use is the demo's, its secrets are loaded too. Returns the demo's
    tenants file when it is the one in use.
    """
    env = os.environ if env is None else env
    settings = settings or Settings()
    demo_file = tenants_path(settings.data_dir)
    if settings.tenants_file is None and not settings.legacy_domains and demo_file.is_file():
        env["PROXY_TENANTS_FILE"] = str(demo_file)
        settings.tenants_file = demo_file
    chosen = settings.tenants_file
    if chosen is None or not chosen.is_file() or not demo_file.is_file() or not chosen.samefile(demo_file):
        return None
    load_secrets(settings.data_dir, env)
    return demo_file
