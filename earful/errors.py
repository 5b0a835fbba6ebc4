"""Turning the errors a user can cause or fix into one clear sentence."""

from __future__ import annotations

import click


def explain(exc: BaseException) -> str | None:
    """A message for errors with a known cause; None lets a real bug show its traceback."""
    from earful.settings import SettingsError
    from responders.templates import TemplateError
    from store import StoreUnavailable

    if isinstance(exc, click.exceptions.Exit):
        raise SystemExit(exc.exit_code)
    if isinstance(exc, click.ClickException):
        exc.show()
        raise SystemExit(exc.exit_code)
    if isinstance(exc, click.exceptions.Abort):
        raise SystemExit(130)
    if isinstance(exc, SettingsError | StoreUnavailable | TemplateError):
        return str(exc)
    if isinstance(exc, FileNotFoundError | PermissionError):
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, ValueError) and type(exc) is ValueError:
        return str(exc)
    name = type(exc).__name__
    if name in {"ArtifactsMissing", "DataMissing"}:
        return str(exc)
    return None
