"""The Monday report: `earful serve` builds last week's report and queues it for every subscriber who asked
(`weekly_report = true`), the PDF and the CSVs attached (delivery attaches a "report" firing's files).

The week is stored as an alert firing keyed by its label, so however many times this runs (every minute, two
servers, a restart mid-Monday) a week is queued once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from responders.alerts import AlertSettings
from responders.firing import find_firing, record_firing
from responders.report import ReportPaths, build_report
from responders.report_html import headline
from responders.report_period import previous_week
from store import Store
from store.models import AlertEvent, AlertFiring

RULE, KIND = "weekly-report", "report"
# Early enough to be read with Monday's first coffee, late enough that Sunday's last mentions are in.
SEND_AFTER = time(6, 0)


def queue_weekly_report(
    store: Store,
    settings: AlertSettings,
    *,
    now: datetime,
    out_root: Path,
    send_after: time = SEND_AFTER,
    sla: Mapping[str, timedelta] | None = None,
) -> AlertFiring | None:
    """On a Monday from `send_after` (UTC): build last week's report into out_root/<week>/ and queue one pending
    "report" delivery per weekly-report subscriber. None if it is not time, nobody asked, or the week is queued."""
    now = now.astimezone(UTC)
    if now.weekday() != 0 or now.time() < send_after:
        return None
    readers = [s for s in settings.subscribers if s.weekly_report]
    if not readers:
        return None
    week = previous_week(now)
    with store.read() as session:
        if find_firing(RULE, week.label, session=session) is not None:
            return None
    # Built outside any write transaction: it takes seconds, and ingestion must not wait for it.
    paths = build_report(store, week, Path(out_root) / week.label, sla=sla, now=now)
    title, reason, body = describe(paths)
    attachments = [
        str(p.resolve()) for p in (paths.pdf, paths.threads_csv, paths.mentions_csv) if p is not None
    ]
    with store.write() as session:
        firing = record_firing(
            session=session,
            rule=RULE,
            kind=KIND,
            key=week.label,
            title=title,
            reason=reason,
            now=now,
            figures={"week": week.label, "attachments": attachments},
        )
        if firing is None:
            return None  # another server queued this week while we were building it
        for reader in readers:
            session.add(
                AlertEvent(
                    rule=RULE,
                    subscriber=reader.name,
                    firing_id=firing.id,
                    revision=0,
                    kind=KIND,
                    title=title,
                    body=body,
                    status="pending",
                    created_at=now,
                )
            )
    return firing


def describe(paths: ReportPaths) -> tuple[str, str, str]:
    """The e-mail's title, the one-sentence reason, and the plain-text body."""
    data = paths.data
    period, now = data.period, data.current
    response = now.tier_response("all")
    figures = {what: (value, delta.text) for value, what, delta in headline(data)}
    title = f"earful weekly report {period.label}"

    def figure(what: str, before: str = "", after: str = "") -> str:
        """'170 customer mentions (+12% vs W47)': the value, its words, its change."""
        value, delta = figures[what]
        return f"{before}{value}{after}" + (f" ({delta})" if delta else "")

    parts = [
        figure("customer mentions", after=" customer mentions"),
        figure("complaints", after=" complaints"),
        figure("SLA met", before="SLA met "),
    ]
    if response.median_seconds is not None:
        parts.insert(2, figure("median first response", before="median first response "))
    reason = f"Week {period.label} ({period.describe()}): {', '.join(parts)}."
    lines = [
        reason,
        "",
        *(
            f"- {what}: {value}" + (f" ({delta})" if delta else "")
            for what, (value, delta) in figures.items()
        ),
        "",
        "Attached: report.pdf (figures and charts), threads.csv (one row per thread) and mentions.csv "
        "(one row per mention).",
    ]
    return title, reason, "\n".join(lines) + "\n"
