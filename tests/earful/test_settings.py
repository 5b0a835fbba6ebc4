"""Settings: file, secrets file, environment; mistakes named with their key and their fix."""

from __future__ import annotations

import re
from pathlib import Path

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


@pytest.mark.parametrize(
    ("toml", "line", "said"),
    [
        ("[sla]\ncritcal = 5\n", 2, "[sla] has no key 'critcal'; did you mean 'critical'?"),
        ('[desk]\nrespnder = "sam"\n', 2, "[desk] has no key 'respnder'; did you mean 'responder'?"),
        ("[x]\npol_seconds = 5\n", 2, "[x] has no key 'pol_seconds'; did you mean 'poll_seconds'?"),
        ('[databse]\nurl = "sqlite:///x.db"\n', 1, "there is no section [databse]; did you mean [database]?"),
        (
            '[[brands]]\nname = "acme"\ntermz = ["acme"]\n',
            3,
            "[[brands]] 'acme' has no key 'termz'; did you mean 'terms'?",
        ),
        (
            "[nlp.urgency]\ncomplaintt = 0.4\n",
            2,
            "[nlp.urgency] has no key 'complaintt'; did you mean 'complaint'?",
        ),
        (
            '[[alerts.rules]]\nname = "u"\nkind = "tier"\nmin_tierr = "high"\n',
            4,
            "[[alerts.rules]] 'u' has no key 'min_tierr'; did you mean 'min_tier'?",
        ),
        (
            '[[alerts.subscribers]]\nname = "oncall"\nurl = "json://localhost"\nrulez = ["u"]\n',
            4,
            "[[alerts.subscribers]] 'oncall' has no key 'rulez'; did you mean 'rules'?",
        ),
        ('responder = "sam"\n', 1, "the top level has no key 'responder'; it is a key of [desk]"),
    ],
)
def test_a_misspelled_key_in_any_section_is_refused_with_the_file_and_the_fix(tmp_path, toml, line, said):
    config = tmp_path / "earful.toml"
    config.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    assert f"{config} line {line}: {said}" in str(err.value)


def test_a_subscriber_url_env_and_earful_own_variables_are_not_unknown_keys(tmp_path, monkeypatch):
    config = tmp_path / "earful.toml"
    config.write_text('[[alerts.subscribers]]\nname = "oncall"\nurl_env = "EARFUL_ALERT_URL_ONCALL"\n')
    monkeypatch.setenv("EARFUL_ALERT_URL_ONCALL", "json://localhost/hook")
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EARFUL_SOMETHING_OF_MINE", "1")  # shaped like no setting: not ours to refuse
    monkeypatch.setenv("EARFUL_DESK__KEYS__INBOX.DONE", "e")  # a table's own keys are the user's
    settings = load_settings(config)
    assert settings.alerts.subscribers[0].url.get_secret_value() == "json://localhost/hook"


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("EARFUL_SLA__CRITCAL", "[sla] has no 'critcal'; did you mean EARFUL_SLA__CRITICAL?"),
        ("EARFUL_DATABASE_URL", "names no setting; did you mean EARFUL_DATABASE__URL?"),
        ("EARFUL_DATABSE__URL", "the settings has no 'databse'; did you mean EARFUL_DATABASE__URL?"),
        (
            "EARFUL_ALERTS__RULES__TIER__MIN_TIER",
            "alerts.rules is set as a whole: in earful.toml, or as JSON in EARFUL_ALERTS__RULES",
        ),
        ("EARFUL_NLP__URGENCY__COMPLAINTT", "did you mean EARFUL_NLP__URGENCY__COMPLAINT?"),
    ],
)
def test_an_earful_variable_that_names_no_setting_is_refused(monkeypatch, name, said):
    monkeypatch.setenv(name, "5")
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert f"{name} (in the environment) names no setting" in message and said in message


def test_a_toml_syntax_error_names_the_line_and_column_and_what_was_expected(tmp_path):
    config = tmp_path / "earful.toml"
    config.write_text("[sla]\ncritical = 5\nhigh =\n", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    message = str(err.value)
    assert message.startswith(f"{config} line 3, column 7: Invalid value; expected a value")
    assert message.splitlines()[1:] == ["    high =", "          ^"]
    config.write_text("[sla\ncritical = 5\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"line 1, column 5: Expected '\]' at the end of a table"):
        load_settings(config)


# earful's variables that are not settings: where the settings are, data, caches, a child process's job.
NOT_SETTINGS = {
    "EARFUL_CONFIG",
    "EARFUL_SECRETS_FILE",
    "EARFUL_DATA_DIR",
    "EARFUL_CACHE_DIR",
    "EARFUL_ONNX_CACHE",
}
NOT_SETTINGS |= {"EARFUL_REPORT_EXPORT"}


def _real_variable(name: str) -> bool:
    """Whether pydantic-settings reads `name` into a setting: a section, or a key reached through sections only
    (a list or a table is set whole, as JSON), walked here on the model itself."""
    from pydantic import BaseModel

    from earful.settings import Settings

    model: type[BaseModel] | None = Settings
    for part in name.removeprefix("EARFUL_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return True


@pytest.mark.parametrize(
    "toml",
    [
        '[databse]\nurl = "x"\n',
        "[sla]\ncritical = -3\n",
        "[nlp.urgency]\ncritical = 500\n",
        '[[alerts.rules]]\nname = "u"\nkind = "tier"\nmin_tier = "severe"\n',
        '[[brands]]\nname = ""\n',
        '[desk]\nkeys = "e"\n',
        '[[alerts.subscribers]]\nname = "oncall"\nurl = "json://x"\nquiet_hours = "22-7"\n',
    ],
)
def test_every_variable_a_settings_error_names_exists(tmp_path, toml):
    config = tmp_path / "earful.toml"
    config.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    named = re.findall(r"EARFUL_[A-Z0-9_]+", str(err.value))
    assert all(_real_variable(name) or name in NOT_SETTINGS for name in named), (named, str(err.value))


def test_every_earful_variable_the_code_and_docs_name_exists():
    """Hints written by hand (an error's fix, the README, the example config) name real variables too."""
    root = Path(__file__).resolve().parents[2]
    files = [root / "README.md", root / "config" / "earful.toml"]
    for package in ("earful", "listener", "nlp", "responders", "store", "tui"):
        files += sorted((root / package).rglob("*.py"))
    # Named by url_env in the example config (any name goes); the bus's stream name; the test suite's own;
    # prefixes built in code.
    others = re.compile(
        r"EARFUL_ALERT_URL_\w+|EARFUL_MENTIONS|EARFUL_(TEST|BENCH|KILL)_\w*|EARFUL_(BUS|SLA)?__?"
    )
    wrong = {
        (path.relative_to(root).as_posix(), name)
        for path in files
        for name in re.findall(r"EARFUL_[A-Z0-9_]+", path.read_text(encoding="utf-8"))
        if not _real_variable(name) and name not in NOT_SETTINGS and not others.fullmatch(name)
    }
    assert not wrong
