"""Settings: file, secrets file, environment; mistakes named with their key and their fix."""

from __future__ import annotations

import pytest

from earful.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("EARFUL_CONFIG", "EARFUL_SECRETS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def test_file_then_environment_with_nesting(tmp_path, monkeypatch):
    config = tmp_path / "earful.toml"
    config.write_text(
        '[database]\nurl = "sqlite:///from-file.db"\n[sla]\ncritical = 5\n[[brands]]\nname = "acme"\n'
    )
    monkeypatch.setenv("EARFUL_DATABASE__URL", "sqlite:///from-env.db")
    settings = load_settings(config)
    assert settings.database.url == "sqlite:///from-env.db"
    assert settings.sla.critical == 5 and settings.sla.high == 60
    assert [b.name for b in settings.brands] == ["acme"]


def test_a_bad_value_names_the_key_and_the_environment_variable(tmp_path):
    config = tmp_path / "earful.toml"
    config.write_text("[sla]\ncritical = -3\n")
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    message = str(err.value)
    assert "sla.critical" in message and "EARFUL_SLA__CRITICAL" in message and str(config) in message


def test_secrets_file_must_be_private(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.env"
    secrets.write_text("EARFUL_X__BEARER_TOKEN=s3cret\n")
    secrets.chmod(0o644)
    monkeypatch.setenv("EARFUL_SECRETS_FILE", str(secrets))
    with pytest.raises(SettingsError, match="chmod 600"):
        load_settings()
    secrets.chmod(0o600)
    settings = load_settings()
    assert settings.x.bearer_token is not None
    assert settings.x.bearer_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())


def test_a_missing_config_file_is_an_error_not_a_silent_default(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
