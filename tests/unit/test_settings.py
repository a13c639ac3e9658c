"""One Settings: sections read under their flat names, and `.env.sample` written from the declarations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic.fields import FieldInfo

from proxy.mail.settings import MailSettings
from proxy.settings import Settings, env_names, section_model
from proxy.settings.sample import OTHER_VARIABLES, render_sample
from tests.support.cli import run_main

SAMPLE = Path(__file__).resolve().parents[2] / ".env.sample"
ASSIGNMENT = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def all_fields() -> list[tuple[str, FieldInfo]]:
    """Every setting, root and sections, as (dotted name, field)."""
    found: list[tuple[str, FieldInfo]] = []
    for name, field in Settings.model_fields.items():
        section = section_model(field)
        if section is None:
            found.append((name, field))
        else:
            found += [(f"{name}.{sub_name}", sub) for sub_name, sub in section.model_fields.items()]
    return found


def all_env_names() -> list[str]:
    return [env for _, field in all_fields() for env in env_names(field)]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting in the environment, and a working directory without a `.env`."""
    for name in [*all_env_names(), "MAIL", "LIMITS", "RETENTION"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_setting_is_documented_under_an_environment_name() -> None:
    undocumented = [name for name, field in all_fields() if not field.description or not env_names(field)]
    assert undocumented == []
    names = all_env_names()
    assert len(names) == len(set(names)), "an environment name read by two settings"


def test_the_committed_sample_is_the_generated_one() -> None:
    assert SAMPLE.read_text(encoding="utf-8") == render_sample(), (
        "regenerate it: python -m proxy settings sample --write .env.sample"
    )


def test_the_sample_names_every_variable_and_nothing_else() -> None:
    text = render_sample()
    shown = ASSIGNMENT.findall(text)
    primary = [env_names(field)[0] for _, field in all_fields()]
    others = [var.name for group in OTHER_VARIABLES.values() for var in group]
    assert sorted(shown) == sorted(primary + others)
    for name in all_env_names():  # the old and alternative names are mentioned too
        assert re.search(rf"\b{name}\b", text), name


def test_the_sample_as_a_dotenv_file_gives_the_defaults(clean_env: Path) -> None:
    (clean_env / ".env").write_text(render_sample(), encoding="utf-8")
    assert Settings() == Settings(_env_file=None)  # type: ignore[call-arg]
    changed = render_sample().replace("PROXY_RETENTION_BATCH=500", "PROXY_RETENTION_BATCH=7")
    (clean_env / ".env").write_text(changed, encoding="utf-8")
    assert Settings().retention.batch == 7  # the file is read (the check above is not vacuous)


def test_sections_read_their_flat_names_from_the_environment_and_dotenv(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text(
        "SMTP_HOST=smtp.from-file\nSMTP_PORT=465\nPROXY_RETENTION_BATCH=7\nPROXY_TURN_LEASE=9\n", encoding="utf-8"
    )
    monkeypatch.setenv("SMTP_HOST", "smtp.from-env")  # the environment wins over the file
    monkeypatch.setenv("smtp_password", "pw")  # an older name, in lower case
    monkeypatch.setenv("PROXY_RATE_LIMITS", "false")
    monkeypatch.setenv("PORT", "9100")
    monkeypatch.setenv("MAIL", "/var/spool/mail/someone")  # set by login shells: not the mail section
    settings = Settings()
    assert (settings.mail.host, settings.mail.port, settings.mail.use_tls) == ("smtp.from-env", 465, True)
    assert settings.mail.password is not None and settings.mail.password.get_secret_value() == "pw"
    assert (settings.retention.batch, settings.turn_lease) == (7, 9.0)
    assert (settings.limits.enabled, settings.port) == (False, 9100)


def test_values_given_in_code_win_over_the_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "smtp.from-env")
    monkeypatch.setenv("PROXY_RETENTION_BATCH", "7")
    settings = Settings(mail=MailSettings(host="sink"), retention={"batch": 3})
    assert (settings.mail.host, settings.retention.batch) == ("sink", 3)


def test_a_bad_section_value_names_the_section_and_field(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROXY_RETENTION_BATCH", "0")
    with pytest.raises(ValueError, match=r"retention\.batch"):
        Settings()


def test_the_command_prints_and_writes_the_sample(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["settings", "sample"]) == 0
    assert capsys.readouterr().out == render_sample()
    assert run_main(["settings", "sample", "--write", "sample.env"]) == 0
    assert (clean_env / "sample.env").read_text(encoding="utf-8") == render_sample()
