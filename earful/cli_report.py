"""`earful report`: the report's files for an ISO week or any range, with a progress bar on a terminal."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from earful.cli_common import ConfigOption


def report(
    week: Annotated[
        str | None,
        typer.Option(help="ISO week, e.g. 2026-W47 (Monday to Sunday, UTC). Default: last complete week."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Instead of --week: from a date (2026-11-16) or date and time (2026-11-16T09:30), UTC."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="With --since: to a date (included) or date and time (excluded), UTC. Default: now."
        ),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            min=1, max=3660, help="Instead of --week: the last N days, today included (UTC), e.g. --days 7."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory for the CSVs, report.html and report.pdf.")] = Path(
        "report"
    ),
    pdf: Annotated[bool, typer.Option(help="Also print the page to report.pdf.")] = True,
    config: ConfigOption = None,
) -> None:
    """Write the report: threads.csv, mentions.csv, and report.html/.pdf with the charts, against the period before."""
    from contextlib import AbstractContextManager, nullcontext
    from typing import Any

    from earful.cli_common import read_store
    from earful.settings import load_settings
    from responders.report import build_report
    from responders.report_period import (
        checked,
        empty_note,
        iso_week_period,
        last_days,
        previous_week,
        since_until_period,
    )
    from responders.report_sql import stored_span
    from store.clock import utcnow

    given = [
        name for name, value in (("--week", week), ("--since", since), ("--days", days)) if value is not None
    ]
    if len(given) > 1:
        raise typer.BadParameter(
            f"give one of --week, --since/--until or --days, not {' and '.join(given)}", param_hint=given[0]
        )
    if until is not None and since is None:
        raise typer.BadParameter("--until needs --since (the start of the range)", param_hint="--until")
    now = utcnow()
    try:
        if since is not None:
            period = since_until_period(since, until, now=now)
        elif days is not None:
            period = last_days(days, now=now)
        else:
            period = iso_week_period(week) if week is not None else previous_week(now)
        period = checked(period)
    except ValueError as exc:
        message, hint = str(exc), "--since" if since is not None else "--week"
        for name in ("--since", "--until"):
            if message.startswith(f"{name}: "):
                message, hint = message.removeprefix(f"{name}: "), name
        raise typer.BadParameter(message, param_hint=hint) from None
    settings = load_settings(config)
    store = read_store(settings.database.url)
    typer.echo(f"{period.title}: {period.describe()}", err=True)
    shown: AbstractContextManager[Any] = nullcontext()
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            console=Console(stderr=True),
        )
        task = bar.add_task("Starting", total=None, eta="")
        started = time.monotonic()
        shown = bar

        def progress(done: int, total: int, step: str) -> None:
            # rich reads [brackets] in a description as markup; a path may hold some.
            # Steps are weighted by how long each usually takes, so the share done extrapolates to the time left.
            elapsed = time.monotonic() - started
            left = elapsed * (total - done) / done if done else None
            eta = f"ETA {int(left // 60)}:{int(left % 60):02d}" if left is not None and done < total else ""
            bar.update(task, completed=done, total=total, description=escape(step), eta=eta)

    else:

        def progress(done: int, total: int, step: str) -> None:
            typer.echo(f"[{100 * done // max(total, 1):3d}%] {step}", err=True)

    with shown:
        paths = build_report(store, period, out, progress=progress, sla=settings.sla.budgets(), pdf=pdf)
    for path in paths.files():
        typer.echo(str(path))
    if not paths.data.current.mentions and not paths.data.current.brand_posts:
        # An empty page with no word would look like a quiet week: say where the mentions are.
        with store.read() as session:
            span = stored_span(session)
        typer.echo(f"earful: {empty_note(period, span, now=now, default=not given)}", err=True)
    store.dispose()
