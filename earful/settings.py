"""Settings: an `earful.toml` file, a secrets file, and the environment (EARFUL_ prefix, `__` for nesting).

Each layer owns its section's model (listener.config, nlp.config, responders.*); this module only composes them.
Nothing is read at import time: `load_settings()` builds the settings when a command asks for them.

Precedence, highest first: explicit overrides, environment, secrets file, earful.toml, defaults.
"""

from __future__ import annotations

import getpass
import os
import stat
from pathlib import Path
from typing import Any, ClassVar

from platformdirs import user_config_dir
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from listener.config import BlueskySettings, BrandSettings, MastodonSettings, RedditSettings, XSettings
from listener.jetstream import BusSettings
from nlp.config import NLPSettings
from responders.alerts import AlertSettings
from responders.sla import SLASettings

ENV_PREFIX = "EARFUL_"
REPO_CONFIG = Path(__file__).resolve().parent.parent / "config"


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the key, the value's source and the fix."""


class DatabaseSettings(BaseModel):
    # None: a SQLite file in the user's data directory. For a team: postgresql+psycopg://user@host/db
    url: str | None = None


class DeskSettings(BaseModel):
    responder: str = Field(default_factory=getpass.getuser, min_length=1, max_length=100)
    replies_file: Path | None = None
    refresh_seconds: float = Field(default=1.0, gt=0, le=60)
    # Binding id -> key, e.g. {"inbox.done" = "e"}; ids are listed in tui/commands.py and the README.
    keys: dict[str, str] = Field(default_factory=dict)


class PipelineSettings(BaseModel):
    # A critical complaint should not wait behind a slow database: these bound how long one can.
    write_retry_max_seconds: float = Field(default=30.0, gt=0)
    outbox_retry_seconds: float = Field(default=15.0, gt=0)
    # How often each source's health is written to the store (what `earful status` and the desks read).
    health_seconds: float = Field(default=2.0, gt=0)


class DemoSettings(BaseModel):
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

    class ConfiguredSettings(Settings):
        model_config = SettingsConfigDict(toml_file=toml_file, env_file=env_file, env_file_encoding="utf-8")
        secret_values: ClassVar[dict[str, str]] = _secret_values(env_file)

    try:
        return ConfiguredSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_explain(exc, toml_file)) from None


def _secret_values(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _explain(exc: ValidationError, toml_file: Path | None) -> str:
    lines = ["earful's settings are not valid:"]
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:
            lines.append(f"- {message}.")
            continue
        key = ".".join(str(part) for part in error["loc"])
        env = ENV_PREFIX + "__".join(str(part).upper() for part in error["loc"] if not isinstance(part, int))
        value = error.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else f" (got {str(value)[:60]!r})"
        where = (
            f"[{key.rsplit('.', 1)[0]}] in {toml_file}" if toml_file and "." in key else str(toml_file or "")
        )
        lines.append(f"- {key}: {message}{shown}. Fix it in {where or 'earful.toml'} or with {env}.")
    return "\n".join(lines)
