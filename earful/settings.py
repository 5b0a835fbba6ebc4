"""Settings: an `earful.toml` file, a secrets file, and the environment (EARFUL_ prefix, `__` for nesting).

Each layer owns its section's model (listener.config, nlp.config, responders.*); this module only composes them.
Nothing is read at import time: `load_settings()` builds the settings when a command asks for them.

Precedence, highest first: explicit overrides, environment, secrets file, earful.toml, defaults.
"""

from __future__ import annotations

import getpass
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from platformdirs import user_config_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from earful import settings_keys as keys
from listener.config import BlueskySettings, BrandSettings, MastodonSettings, RedditSettings, XSettings
from listener.jetstream import BusSettings
from nlp.config import NLPSettings
from responders.alerts import AlertSettings
from responders.sla import SLASettings
from responders.subscribers import Subscriber

ENV_PREFIX = "EARFUL_"
REPO_CONFIG = Path(__file__).resolve().parent.parent / "config"
# Variables of earful's that are not settings (where the settings are, data and caches, a child's job), and the
# test suite's; any other EARFUL_ name shaped like a setting must be one.
OTHER_VARIABLES = frozenset(
    f"{ENV_PREFIX}{name}"
    for name in (
        "CONFIG", "SECRETS_FILE", "DATA_DIR", "CACHE_DIR", "ONNX_CACHE", "REPORT_EXPORT",
        "TEST_DATABASE_URL", "TEST_NATS_URL", "HOSTILE_EXAMPLES",
    )
)  # fmt: skip
# Keys a validator reads itself rather than a field: a subscriber's url_env names the variable holding its URL.
EXTRA_KEYS: dict[type[BaseModel], frozenset[str]] = {Subscriber: frozenset({"url_env"})}


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the key, the value's source and the fix."""


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None: a SQLite file in the user's data directory. For a team: postgresql+psycopg://user@host/db
    url: str | None = None


class DeskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responder: str = Field(default_factory=getpass.getuser, min_length=1, max_length=100)
    replies_file: Path | None = None
    refresh_seconds: float = Field(default=1.0, gt=0, le=60)
    # Binding id -> key, e.g. {"inbox.done" = "e"}; ids are listed in tui/commands.py and the README.
    keys: dict[str, str] = Field(default_factory=dict)
    # Who may take back a thread a colleague holds (assign it to anyone, or to nobody). None named: every
    # responder's own desk may, so a team without roles can always free a thread someone left held.
    leads: list[str] = Field(default_factory=list)


class PipelineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A critical complaint should not wait behind a slow database: these bound how long one can.
    write_retry_max_seconds: float = Field(default=30.0, gt=0)
    outbox_retry_seconds: float = Field(default=15.0, gt=0)
    # How often each source's health is written to the store (what `earful status` and the desks read).
    health_seconds: float = Field(default=2.0, gt=0)


class DemoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pace: float = Field(default=1.5, gt=0, description="replayed tweets per second")
    preposted: int = Field(default=120, ge=0, description="tweets already posted when the collector connects")
    history_spacing: float = Field(default=45.0, ge=0, description="seconds between those earlier tweets")
    # Seconds a replayed reply waits after its parent: the brand's other agents answer after `brand_hold`, so
    # the urgent complaints stay on your desk long enough to be yours.
    customer_hold: float = Field(default=30.0, ge=0)
    brand_hold: float = Field(default=180.0, ge=0)
    # Which sandbox networks the demo runs, and the pace of Mastodon, Bluesky and Reddit as a share of X's.
    networks: list[str] = Field(default_factory=lambda: ["x", "mastodon", "bluesky", "reddit"])
    other_networks_share: float = Field(default=0.25, gt=0, le=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        nested_model_default_partial_update=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    x: XSettings = XSettings()
    mastodon: MastodonSettings = MastodonSettings()
    bluesky: BlueskySettings = BlueskySettings()
    reddit: RedditSettings = RedditSettings()
    brands: list[BrandSettings] = Field(default_factory=list)
    nlp: NLPSettings = NLPSettings()
    sla: SLASettings = SLASettings()
    alerts: AlertSettings = AlertSettings()
    desk: DeskSettings = DeskSettings()
    pipeline: PipelineSettings = PipelineSettings()
    bus: BusSettings = BusSettings()
    demo: DemoSettings = DemoSettings()

    # Values of the secrets file, for subscribers that name their URL's variable (url_env).
    secret_values: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _subscriber_urls(cls, data: Any) -> Any:
        """`url_env = "NAME"` on a subscriber: its URL (a credential) comes from that environment variable or the
        secrets file, so earful.toml can say who hears what without holding a token."""
        if not isinstance(data, dict):
            return data
        alerts = data.get("alerts")
        if not isinstance(alerts, dict) or not isinstance(alerts.get("subscribers"), list):
            return data
        subscribers = alerts["subscribers"]
        resolved = []
        for item in subscribers:
            if isinstance(item, dict) and "url_env" in item:
                item = dict(item)
                name = str(item.pop("url_env"))
                value = os.environ.get(name) or cls.secret_values.get(name)
                if not value and "url" not in item:
                    raise ValueError(
                        f"alert subscriber {item.get('name', '?')!r} takes its URL from {name}, which is set "
                        "neither in the environment nor in the secrets file"
                    )
                if value:
                    item["url"] = value
            resolved.append(item)
        return {**data, "alerts": {**alerts, "subscribers": resolved}}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _OnlyFields(dotenv_settings, settings_cls),
            TomlConfigSettingsSource(settings_cls),
        )

    def replies_path(self) -> Path | None:
        if self.desk.replies_file is not None:
            return self.desk.replies_file
        bundled = REPO_CONFIG / "replies.toml"
        return bundled if bundled.exists() else None


class _OnlyFields(PydanticBaseSettingsSource):
    """The secrets file's settings, without its other variables (the URLs subscribers name with url_env): those
    are not settings, and must not be refused as unknown ones."""

    def __init__(self, source: PydanticBaseSettingsSource, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._source = source

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._source().items() if k in self.settings_cls.model_fields}


def config_path(explicit: Path | None = None) -> Path | None:
    """--config, then EARFUL_CONFIG, then the user's config directory; None if there is no file."""
    if explicit is not None:
        if not explicit.exists():
            raise SettingsError(f"config file {explicit} does not exist; check the --config path")
        return explicit
    from_env = os.environ.get("EARFUL_CONFIG")
    if from_env:
        path = Path(from_env).expanduser()
        if not path.exists():
            raise SettingsError(f"EARFUL_CONFIG points to {path}, which does not exist")
        return path
    default = Path(user_config_dir("earful", appauthor=False)) / "earful.toml"
    return default if default.exists() else None


def secrets_path() -> Path | None:
    from_env = os.environ.get("EARFUL_SECRETS_FILE")
    path = (
        Path(from_env).expanduser()
        if from_env
        else Path(user_config_dir("earful", appauthor=False)) / "secrets.env"
    )
    if not path.exists():
        if from_env:
            raise SettingsError(f"EARFUL_SECRETS_FILE points to {path}, which does not exist")
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SettingsError(
            f"secrets file {path} is readable by others (mode {mode:o}); credentials must stay private. "
            f"Fix: chmod 600 {path}"
        )
    return path


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    toml_file = config_path(config)
    env_file = secrets_path()
    text, data = read_toml(toml_file)
    secrets = _secret_values(env_file)
    problems = unknown_settings(data, text, toml_file, os.environ, secrets, env_file)
    if problems:
        raise SettingsError("\n".join(["earful's settings are not valid:", *problems]))

    class ConfiguredSettings(Settings):
        model_config = SettingsConfigDict(env_file=env_file, env_file_encoding="utf-8")
        secret_values: ClassVar[dict[str, str]] = secrets

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # The file as read and checked above, not read a second time.
            return (
                init_settings,
                env_settings,
                _OnlyFields(dotenv_settings, settings_cls),
                InitSettingsSource(settings_cls, data),
            )

    try:
        return ConfiguredSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_explain(exc, toml_file, data)) from None


def read_toml(path: Path | None) -> tuple[str, dict[str, Any]]:
    """earful.toml's text and contents; a file that is not TOML is a SettingsError naming the line and column."""
    if path is None:
        return "", {}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SettingsError(
            f"{path} line {line} is not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8"
        ) from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(keys.toml_error(path, text, exc)) from None


def unknown_settings(
    data: dict[str, Any],
    text: str,
    toml_file: Path | None,
    environ: Mapping[str, str],
    secrets: Mapping[str, str],
    env_file: Path | None,
) -> list[str]:
    """One line per key of earful.toml and per EARFUL_ variable that names no setting, with the nearest real one:
    a typo would otherwise leave the default in force without a word."""
    problems: list[str] = []
    for unknown in keys.unknown_keys(data, keys.Shape("model", model=Settings), extra=EXTRA_KEYS):
        problems.append(_unknown_key(unknown, data, text, toml_file))
    alerts = data.get("alerts")
    subscribers = alerts.get("subscribers") if isinstance(alerts, dict) else None
    named_by_subscribers = {
        str(item["url_env"]).upper()
        for item in (subscribers if isinstance(subscribers, list) else [])
        if isinstance(item, dict) and "url_env" in item
    }
    sources = [("in the environment", environ), (f"in the secrets file {env_file}", secrets)]
    for where, names in sources:
        for name in sorted(names):
            upper = name.upper()
            if upper.startswith(ENV_PREFIX) and upper not in OTHER_VARIABLES | named_by_subscribers:
                problem = _unknown_variable(upper, where)
                if problem:
                    problems.append(problem)
    return problems


def _unknown_key(unknown: keys.Unknown, data: dict[str, Any], text: str, toml_file: Path | None) -> str:
    line = keys.key_line(text, unknown.parent, unknown.key)
    where = f"{toml_file}{f' line {line}' if line else ''}"
    value = keys.at(data, (*unknown.parent, unknown.key))
    section = isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict))
    table = keys.table_name(unknown.parent, data)
    if not unknown.parent and section:
        said = f"{where}: there is no section [{unknown.key}]"
        hint = f"did you mean [{unknown.suggestion}]?" if unknown.suggestion else ""
        return f"- {said}; {hint or 'remove it'} (sections: {', '.join(unknown.known)})."
    said = f"{where}: {table} has no key {unknown.key!r}"
    if unknown.suggestion:
        return f"- {said}; did you mean {unknown.suggestion!r}? (keys there: {', '.join(unknown.known)})."
    elsewhere = [".".join(p) for p in _paths_of(unknown.key)]
    if elsewhere:
        return f"- {said}; it is a key of [{'], ['.join(elsewhere)}]: move it there."
    return f"- {said}; remove it (keys there: {', '.join(unknown.known)})."


def _paths_of(key: str) -> list[tuple[str, ...]]:
    """The sections (down through nested ones) that have a key named `key`."""
    found = []
    for name in keys.env_names(Settings, ""):
        parts = tuple(part.lower() for part in name.split("__"))
        if parts[-1] == key.lower() and len(parts) > 1:
            found.append(parts[:-1])
    return found


def _unknown_variable(name: str, where: str) -> str | None:
    rest = name[len(ENV_PREFIX) :]
    if "__" not in rest:
        if rest.lower() in Settings.model_fields:
            return None
        # One underscore where nesting takes two (DATABASE_URL for DATABASE__URL), or a near miss of a real name.
        real = keys.env_names(Settings, ENV_PREFIX)
        joined = [n for n in real if n.replace("__", "_") == name]
        near = joined or keys.close_matches(name, real, cutoff=0.88)
        if not near:
            return None  # not shaped like a setting: someone else's variable
        return f"- {name} ({where}) names no setting; did you mean {near[0]}? (`__` between levels)"
    ok, suggestion, why = keys.setting_for_env(Settings, ENV_PREFIX, name)
    if ok:
        return None
    hint = f"; did you mean {suggestion}?" if suggestion and suggestion != name else ""
    return f"- {name} ({where}) names no setting: {why.removesuffix('.')}{hint}. Rename or unset it."


def _secret_values(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _explain(exc: ValidationError, toml_file: Path | None, data: dict[str, Any]) -> str:
    lines = ["earful's settings are not valid:"]
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:
            lines.append(f"- {message}.")
            continue
        path, settable = keys.model_path(Settings, error["loc"])
        key = ".".join(str(part) for part in path)
        value = error.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else f" (got {str(value)[:60]!r})"
        # The variable exists only when each step is a section's key; an item of a list is set in the file.
        env = keys.env_name(ENV_PREFIX, [str(p) for p in path]) if settable else None
        table = keys.table_name(path[:-1], data) if len(path) > 1 else "the top level"
        file = f"{table} of {toml_file}" if toml_file else f"{table} of earful.toml"
        if env and env in {name.upper() for name in os.environ}:
            fix = f"Fix {env}, set in the environment"
        elif env:
            fix = f"Fix it in {file} or with {env}"
        else:
            fix = f"Fix it in {file}"
        lines.append(f"- {key}: {message}{shown}. {fix}.")
    return "\n".join(lines)
