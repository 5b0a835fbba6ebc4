"""Turning the errors a user can cause or fix into one clear sentence."""

from __future__ import annotations

import click


def _click_modules() -> list[object]:
    """Click's exceptions, as typer raises them: recent typer vendors click as `typer._click`, so an `except` on
    plain click's classes alone would miss every usage error and print a traceback instead."""
    modules: list[object] = [click.exceptions]
    try:
        from typer._click import exceptions as vendored  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return modules
    return [*modules, vendored]


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    return tuple(getattr(module, name) for module in _click_modules() if hasattr(module, name))


def _known() -> tuple[type[BaseException], ...]:
    """Errors whose message already names the cause and the fix (imported late: some modules are heavy)."""
    from earful.settings import SettingsError
    from listener.sending import SendError
    from listener.x_rules import RuleError
    from nlp.finetuned import ArtifactsError
    from nlp.training.data import DataDirError
    from responders.outbox import ReplyRejected
    from responders.templates import TemplateError
    from store import StoreUnavailable
    from store.errors import UserError

    return (
        SettingsError,
        StoreUnavailable,
        TemplateError,
        ArtifactsError,
        DataDirError,
        ReplyRejected,
        RuleError,
        SendError,
        UserError,
    )


def explain(exc: BaseException) -> str | None:
    """A message for errors with a known cause; None lets a real bug show its traceback."""
    if isinstance(exc, _click_classes("Exit")):
        raise SystemExit(exc.exit_code)  # type: ignore[attr-defined]
    if isinstance(exc, _click_classes("ClickException")):
        exc.show()  # type: ignore[attr-defined]
        raise SystemExit(exc.exit_code)  # type: ignore[attr-defined]
    if isinstance(exc, _click_classes("Abort")):
        raise SystemExit(130)
    if isinstance(exc, _known()):
        return str(exc)
    # Raised on purpose with the fix in the message (NATS unreachable); a bare one keeps its traceback.
    if type(exc) is ConnectionError and str(exc):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    # Any other ValueError is a bug, not the user's mistake: deliberate ones are UserErrors (known above).
    return None
