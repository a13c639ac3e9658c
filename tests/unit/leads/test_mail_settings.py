from __future__ import annotations

import pytest

from proxy.mail.settings import MailSettings
from proxy.settings import Settings


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> MailSettings:
    for name in ("SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASS", "SMTP_FROM", "SMTP_STARTTLS", "SMTP_TLS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None).mail  # type: ignore[call-arg]


def test_old_names_with_implicit_tls_on_465(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(
        monkeypatch, SMTP_HOST="smtp.example.com", SMTP_PORT="465", SMTP_USER="bot@example.com", SMTP_PASS="pw"
    )
    assert (s.host, s.effective_port, s.use_tls, s.configured) == ("smtp.example.com", 465, True, True)
    assert s.password is not None and s.password.get_secret_value() == "pw"
    assert s.default_from() == "AI Bot <bot@example.com>"  # the old sender


def test_starttls_port_and_new_names(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(
        monkeypatch,
        SMTP_HOST="smtp.example.com",
        SMTP_PORT="587",
        SMTP_STARTTLS="true",
        SMTP_FROM="Shop <noreply@shop.test>",
    )
    assert (s.use_tls, s.starttls, s.default_from()) == (False, True, "Shop <noreply@shop.test>")
    assert _settings(monkeypatch, SMTP_HOST="h", SMTP_PORT="2465", SMTP_TLS="1").use_tls


def test_unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(monkeypatch)
    assert not s.configured
    assert s.default_from() == "AI Bot <assistant-proxy@localhost>"


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    s = MailSettings(backoff_base=10, backoff_max=100)
    delays = [s.backoff(n) for n in range(1, 7)]
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 20 <= delays[2] <= 40
    assert all(d <= 100 for d in delays) and delays[-1] >= 50
    assert MailSettings(backoff_base=0).backoff(5) == 0
