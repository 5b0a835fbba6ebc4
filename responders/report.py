"""The report: `earful report --week 2026-W47 --out DIR` (or `--since/--until`) writes there threads.csv (one row
per thread), mentions.csv (one row per mention), report.html (figures and charts, each against the previous
period) and report.pdf (the same page printed).

Weeks are ISO weeks in UTC, Monday 00:00 to the next Monday 00:00. A thread belongs to the period if anything was
posted in it (by the customer or by the brand) during the period.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from responders.report_csv import (
    THREAD_COLUMNS,
    WRITERS,
    most_urgent_ids,
    urgent_threads,
    write_atomic,
    write_csv,
)
from responders.report_data import COMPLAINT_THRESHOLD, collect, count_posts
from responders.report_export import finish_export, start_export
from responders.report_model import ReportData
from responders.report_period import Period, iso_week_period, parse_iso_week
from responders.sla import SLASettings
from store import Store
from store.clock import utcnow
from store.private import private_dir

CSV_COLUMNS = THREAD_COLUMNS
__all__ = [
    "COMPLAINT_THRESHOLD",
    "CSV_COLUMNS",
    "ReportPaths",
    "build_report",
    "build_week_report",
    "parse_iso_week",
    "write_atomic",
]

# Work done, work in all (in units of the weights below), what is happening now.
Progress = Callable[[int, int, str], None]
# How long each step takes, roughly, as shares of a big build (`python -m bench report`), in the order they
# run: the progress bar moves by these, so its estimate of the time left is not thrown by the first steps
# being the long ones. With the CSVs written by other processes, then without.
_PARALLEL_WEIGHTS = (24, 1, 17, 5, 8, 1, 12, 31, 1)
_SERIAL_WEIGHTS = (15, 1, 11, 28, 30, 3, 5, 1, 6)
# From this many mentions in the period, the two CSVs are written by processes of their own while this one
# draws the page: on two cores a million-mention week takes about half the time. Below it, starting a process
# costs more than it saves.
PARALLEL_FROM = 150_000


@dataclass(frozen=True)
class ReportPaths:
    directory: Path
    threads_csv: Path
    mentions_csv: Path
    html: Path
    pdf: Path | None
    data: ReportData

    @property
    def csv(self) -> Path:
        return self.threads_csv

    @property
    def threads(self) -> int:
        return self.data.thread_rows

    def files(self) -> list[Path]:
        return [p for p in (self.pdf, self.html, self.threads_csv, self.mentions_csv) if p is not None]


def build_week_report(
    store: Store,
    week: str,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    sla: Mapping[str, timedelta] | None = None,
    pdf: bool = True,
    now: datetime | None = None,
    parallel: bool | None = None,
) -> ReportPaths:
    """The report of ISO week `week` ('2026-W47'); ValueError naming the form if it is not one."""
    period = iso_week_period(week)
    return build_report(
        store, period, out_dir, progress=progress, sla=sla, pdf=pdf, now=now, parallel=parallel
    )


def build_report(
    store: Store,
    period: Period,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    sla: Mapping[str, timedelta] | None = None,
    pdf: bool = True,
    now: datetime | None = None,
    parallel: bool | None = None,
) -> ReportPaths:
    """Write the four files for `period` into `out_dir` (created if needed).

    The files are readable by their owner only (they hold customer data) and each replaces any earlier one at
    once, never half-written. `sla` is the minutes each urgency tier may wait (default: the SLA settings').
    `parallel`: write the CSVs in processes of their own (None: when the period holds PARALLEL_FROM mentions).
    """
    done = 0
    weights: tuple[int, ...] = _SERIAL_WEIGHTS

    def step(text: str) -> None:
        nonlocal done
        if progress is not None:
            progress(sum(weights[:done]), sum(weights), text)
        done += 1

    budgets = dict(sla) if sla is not None else SLASettings().budgets()
    out = Path(out_dir)
    private_dir(out)  # created owner-only, as the files in it are
    paths = {name: out / name for name in ("threads.csv", "mentions.csv", "report.html", "report.pdf")}
    if parallel is None:
        with store.read() as session:
            parallel = count_posts(session, period) >= PARALLEL_FROM and not _in_memory(store)
    weights = _PARALLEL_WEIGHTS if parallel else _SERIAL_WEIGHTS
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        if parallel:
            children = {name: start_export(store.url, period, paths[name]) for name in WRITERS}
        data = collect(store, period, sla=budgets, now=now or utcnow(), step=step)
        # Both files' rows are counted already, so the page need not wait for them.
        data.thread_rows = data.current.threads
        data.mention_rows = data.current.mentions + data.current.brand_posts
        with store.read() as session:
            for name in WRITERS if not children else ():
                step(f"Writing {paths[name]}")
                _set_rows(data, name, write_csv(session, period, paths[name]))
            step("Finding the most urgent threads")
            data.urgent = urgent_threads(session, period, most_urgent_ids(session, period))
        step("Drawing the charts")
        from responders.report_charts import draw_charts
        from responders.report_html import render_report

        charts = draw_charts(data)
        page = render_report(data, charts)
        step(f"Writing {paths['report.html']}")
        write_atomic(paths["report.html"], lambda f: f.write(page), newline="\n", encoding="utf-8")
        printed: Path | None = None
        if pdf:
            step(f"Printing {paths['report.pdf']}")
            from responders.report_pdf import html_to_pdf

            document = html_to_pdf(page)
            write_atomic(paths["report.pdf"], lambda f: f.write(document), binary=True)
            printed = paths["report.pdf"]
        for name in list(children):
            step(f"Finishing {paths[name]} (written by a second process)")
            _set_rows(data, name, finish_export(children.pop(name), name))
    finally:
        for child in children.values():  # this process failed first: their files are not wanted
            child.kill()
            child.wait()
    if progress is not None:
        progress(sum(weights), sum(weights), "Done")
    return ReportPaths(
        directory=out,
        threads_csv=paths["threads.csv"],
        mentions_csv=paths["mentions.csv"],
        html=paths["report.html"],
        pdf=printed,
        data=data,
    )


def _set_rows(data: ReportData, name: str, rows: int) -> None:
    if name == "threads.csv":
        data.thread_rows = rows
    else:
        data.mention_rows = rows


def _in_memory(store: Store) -> bool:
    return store.is_sqlite and store.url.rstrip("/").endswith((":memory:", "sqlite:"))
