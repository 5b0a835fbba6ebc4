"""The weekly report: `earful report --week 2026-W47 --out DIR` writes threads.csv and report.html there.

Weeks are ISO weeks in UTC, Monday 00:00 to the next Monday 00:00. A thread belongs to the week if anything
was posted in it (by the customer or by the brand) during the week.
"""

from __future__ import annotations

import csv
import os
import re
import statistics
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import Session, col, func, select

from responders.report_html import render_report
from responders.report_model import DayVolume, ThreadRow, WeekData, sentiment_bucket
from responders.safe import csv_safe, one_line, strip_controls
from store import Store
from store.clock import as_utc, utcnow
from store.models import Customer, Identity, Mention, Thread

# A mention the classifier rates at least this likely a complaint counts as one in the headline figures.
COMPLAINT_THRESHOLD = 0.5
# Well under every database's bound-parameter limit (SQLite's is 32766, older builds 999).
_CHUNK = 500
_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)

CSV_COLUMNS = (
    "thread_id",
    "customer",
    "handle",
    "network",
    "brand",
    "first_message",
    "sentiment",
    "urgency",
    "urgency_tier",
    "first_response_seconds",
    "first_response",
    "status",
    "assignee",
    "mentions",
    "mentions_in_week",
    "first_activity",
    "last_activity",
)

T = TypeVar("T")


@dataclass(frozen=True)
class ReportPaths:
    csv: Path
    html: Path
    threads: int


def parse_iso_week(text: str) -> tuple[datetime, datetime]:
    """'2026-W47' to (Monday 00:00 UTC, the next Monday 00:00 UTC); ValueError naming the form otherwise."""
    match = _WEEK.match(text or "")
    if match is None:
        raise ValueError(f"expected an ISO week like 2026-W47 (year, -W, week number), got {text!r}")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        monday = datetime.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a week of {year}: expected an ISO week like 2026-W47") from None
    start = monday.replace(tzinfo=UTC)
    return start, start + timedelta(days=7)


def build_week_report(
    store: Store,
    week: str,
    out_dir: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> ReportPaths:
    """Write threads.csv and report.html for `week` into `out_dir` (created if needed).

    threads.csv is UTF-8 with a BOM, because Excel reads a BOM-less CSV in the local code page and mangles
    accents and emoji; other tools skip the BOM. Both files are readable by their owner only (they hold
    customer data) and replace any earlier report in `out_dir` at once, never half-written.
    """
    say = progress or (lambda _message: None)
    start, end = parse_iso_week(week)
    label = f"{start.isocalendar().year}-W{start.isocalendar().week:02d}"
    say(f"Reading threads active in {label} ({start:%d %b} to {end - timedelta(days=1):%d %b %Y}, UTC)")
    with store.read() as session:
        data = collect_week(label, start, end, session=session)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out_dir / "threads.csv", out_dir / "report.html"
    say(f"Writing {csv_path} ({len(data.threads)} threads)")
    _write_atomic(csv_path, lambda f: write_threads_csv(data.threads, f), newline="", encoding="utf-8-sig")
    say(f"Writing {html_path}")
    page = render_report(data)
    _write_atomic(html_path, lambda f: f.write(page), newline="\n", encoding="utf-8")
    return ReportPaths(csv=csv_path, html=html_path, threads=len(data.threads))


def collect_week(week: str, start: datetime, end: datetime, *, session: Session) -> WeekData:
    """Everything the report shows for [start, end), read in a handful of batched queries."""
    in_week = (col(Mention.created_at) >= start, col(Mention.created_at) < end)
    # Brand replies count as activity (they bring a thread into the week) but not as volume.
    counted = select(Mention.thread_id, func.count()).where(*in_week).group_by(col(Mention.thread_id))
    posts_by_thread: Counter[int] = Counter({thread_id: n for thread_id, n in session.exec(counted)})
    inbound = session.exec(
        select(Mention.created_at, Mention.sentiment, Mention.complaint).where(
            *in_week, col(Mention.is_own).is_(False)
        )
    ).all()
    days = [DayVolume(day=(start + timedelta(days=i)).date()) for i in range(7)]
    complaints = 0
    for created_at, sentiment, complaint in inbound:
        complaints += (complaint or 0) >= COMPLAINT_THRESHOLD
        days[(as_utc(created_at) - start).days].counts[sentiment_bucket(sentiment)] += 1

    threads = _by_id(Thread, list(posts_by_thread), session=session)
    firsts, sentiments = _first_inbound(list(threads), session=session)
    identities = _by_id(Identity, {f.identity_id for f in firsts.values()}, session=session)
    customers = _by_id(Customer, {t.customer_id for t in threads.values() if t.customer_id}, session=session)

    rows: list[ThreadRow] = []
    for thread_id, thread in sorted(threads.items()):
        first = firsts.get(thread_id)
        identity = identities.get(first.identity_id) if first else None
        customer = customers.get(thread.customer_id or -1)
        response: int | None = None
        if thread.first_response_at is not None and thread.first_inbound_at is not None:
            response = int(
                (as_utc(thread.first_response_at) - as_utc(thread.first_inbound_at)).total_seconds()
            )
        rows.append(
            ThreadRow(
                thread_id=thread_id,
                customer=one_line(customer.display_name if customer else ""),
                handle=one_line(identity.handle if identity else ""),
                network=thread.network,
                brand=one_line(thread.brand),
                first_message=strip_controls(first.text if first else "").strip(),
                sentiment=(first.sentiment if first else None) or _dominant(sentiments.get(thread_id)),
                urgency=thread.urgency,
                tier=thread.tier,
                first_response_seconds=response,
                status=thread.status,
                assignee=one_line(thread.assignee or ""),
                mentions=thread.mention_count,
                mentions_in_week=posts_by_thread[thread_id],
                first_activity=as_utc(thread.first_activity_at),
                last_activity=as_utc(thread.last_activity_at),
            )
        )
    responses = [r.first_response_seconds for r in rows if r.first_response_seconds is not None]
    return WeekData(
        week=week,
        start=start,
        end=end,
        threads=rows,
        days=days,
        mentions=len(inbound),
        complaints=complaints,
        median_first_response_seconds=int(statistics.median(responses)) if responses else None,
        generated_at=utcnow(),
    )


def write_threads_csv(rows: Sequence[ThreadRow], out: Any) -> None:
    """One row per thread. Text goes through csv_safe; numbers we computed stay numbers."""
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.thread_id,
                csv_safe(r.customer),
                csv_safe(r.handle),
                csv_safe(r.network),
                csv_safe(r.brand),
                csv_safe(r.first_message),
                csv_safe(r.sentiment),
                r.urgency,
                csv_safe(r.tier),
                "" if r.first_response_seconds is None else r.first_response_seconds,
                csv_safe(r.first_response),
                csv_safe(r.status),
                csv_safe(r.assignee),
                r.mentions,
                r.mentions_in_week,
                r.first_activity.isoformat(timespec="seconds"),
                r.last_activity.isoformat(timespec="seconds"),
            ]
        )


@dataclass
class _FirstInbound:
    identity_id: int
    sentiment: str | None
    text: str = ""


def _first_inbound(
    thread_ids: list[int], *, session: Session
) -> tuple[dict[int, _FirstInbound], dict[int, Counter[str]]]:
    """Per thread: its first customer mention (author, sentiment, text) and the sentiments of all of them."""
    firsts: dict[int, _FirstInbound] = {}
    sentiments: dict[int, Counter[str]] = defaultdict(Counter)
    first_ids: dict[int, int] = {}
    for chunk in _chunks(thread_ids):
        rows = session.exec(
            select(Mention.thread_id, Mention.id, Mention.identity_id, Mention.sentiment)
            .where(col(Mention.thread_id).in_(chunk), col(Mention.is_own).is_(False))
            .order_by(col(Mention.thread_id), col(Mention.created_at), col(Mention.id))
        ).all()
        for thread_id, mention_id, identity_id, sentiment in rows:
            if sentiment:
                sentiments[thread_id][sentiment] += 1
            if thread_id not in firsts and mention_id is not None:
                firsts[thread_id] = _FirstInbound(identity_id=identity_id, sentiment=sentiment)
                first_ids[mention_id] = thread_id
    # Texts only for the first mentions: a long thread's every post need not be read.
    for chunk in _chunks(list(first_ids)):
        for mention_id, text in session.exec(
            select(Mention.id, Mention.text).where(col(Mention.id).in_(chunk))
        ):
            if mention_id is not None:
                firsts[first_ids[mention_id]].text = text
    return firsts, sentiments


def _dominant(counts: Counter[str] | None) -> str:
    if not counts:
        return ""
    # Ties go to the worse feeling: a report should not make a thread look happier than it was.
    order = {"negative": 0, "neutral": 1, "positive": 2}
    return min(counts, key=lambda s: (-counts[s], order.get(sentiment_bucket(s), 3), s))


def _by_id(model: type[T], ids: Iterable[int | None], *, session: Session) -> dict[int, T]:
    wanted = sorted({i for i in ids if i is not None})
    found: dict[int, T] = {}
    id_column = col(model.id)  # type: ignore[attr-defined]
    for chunk in _chunks(wanted):
        for row in session.exec(select(model).where(id_column.in_(chunk))).all():
            found[row.id] = row  # type: ignore[attr-defined]
    return found


def _chunks(items: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _write_atomic(path: Path, write: Callable[[Any], object], *, newline: str, encoding: str) -> None:
    """Write next to `path`, then rename over it: a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
