"""`earful alerts ...`: what the rules are, what fired and where it went, and a test message to a subscriber."""

from __future__ import annotations

from typing import Annotated

import typer

from earful.cli_common import ConfigOption, echo_json, echo_text, read_store

alerts_app = typer.Typer(
    help="Alert rules, their history, and a test message to a subscriber.", no_args_is_help=True
)


@alerts_app.command("history")
def history(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(min=1, help="How many firings, newest first.")] = 30,
    rule: Annotated[str | None, typer.Option(help="Only this rule's firings.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line, for scripts.")] = False,
) -> None:
    """What fired, why, and each subscriber's delivery status."""
    from earful.settings import load_settings
    from responders.alert_history import history as load_history
    from responders.alert_history import history_lines

    store = read_store(load_settings(config).database.url)
    rows = load_history(store, limit=limit, rule=rule)
    if as_json:
        for row in rows:
            echo_json(row.as_json())
        return
    # Titles, reasons and delivery errors quote mentions and receivers' answers: shown, never run.
    for line in history_lines(rows):
        echo_text(line)


@alerts_app.command("test")
def test(
    name: Annotated[str, typer.Argument(help="The subscriber's name in [[alerts.subscribers]].")],
    config: ConfigOption = None,
) -> None:
    """Send a test message to one subscriber now, and say whether it got through."""
    from earful.settings import load_settings
    from responders.delivery import send_test

    settings = load_settings(config).alerts
    subscriber = settings.subscriber(name)
    if subscriber is None:
        known = ", ".join(s.name for s in settings.subscribers) or "none configured"
        echo_text(f"earful: no subscriber named {name!r} (subscribers: {known})", err=True)
        raise typer.Exit(2)
    error = send_test(subscriber, settings)
    if error is None:
        echo_text(f"Test alert delivered to {name}.")
        return
    # The receiver's own answer is in the error: whatever it holds is shown, not run.
    echo_text(f"earful: the test alert to {name} failed: {error}", err=True, one_line=True)
    raise typer.Exit(1)


@alerts_app.command("rules")
def rules(config: ConfigOption = None) -> None:
    """The rules in force and who hears each (subscriber names only: their URLs are secrets)."""
    from earful.settings import load_settings

    settings = load_settings(config).alerts
    for rule in settings.effective_rules():
        knobs = rule.model_dump(exclude={"name", "kind", "brands", "networks", "enabled"})
        scope = [f"brands {', '.join(rule.brands)}"] if rule.brands else []
        scope += [f"networks {', '.join(rule.networks)}"] if rule.networks else []
        who = [s.name for s in settings.subscribers if not s.rules or rule.name in s.rules]
        state = "" if rule.enabled else " (disabled)"
        settings_text = ", ".join(f"{k}={v}" for k, v in knobs.items())
        echo_text(f"{rule.name} [{rule.kind}]{state}: {settings_text}")
        echo_text(f"    {'; '.join(scope) or 'every brand and network'}; to: {', '.join(who) or 'nobody'}")
