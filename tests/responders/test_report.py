"""The weekly report, built from a real SQLite store holding hostile mention text."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlmodel import select

from responders.report import CSV_COLUMNS, build_week_report, collect_week, parse_iso_week
from responders.report_model import human_duration
from responders.safe import csv_safe, strip_controls
from store import Store
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions
from store.models import Thread

WEEK = "2026-W47"
MON = datetime(2026, 11, 16, tzinfo=UTC)
BRAND = Author(native_user_id="acme", handle="acme", display_name="Acme")
FORMULA = '=HYPERLINK("http://evil","x")'
SCRIPT = "<script>alert(1)</script>"


def inbound(
    conv: str,
    n: int,
    at: datetime,
    text: str,
    *,
    who: str,
    sentiment: str | None = "negative",
    urgency: int = 30,
    tier: str = "normal",
    complaint: float = 0.1,
    name: str = "",
) -> ScoredMention:
    return ScoredMention(
        mention=NewMention(
            network="x",
            native_id=f"{conv}-{n}",
            conversation_id=conv,
            text=text,
            created_at=at,
            author=Author(
                native_user_id=f"u-{who}", handle=who, display_name=name or who.title(), followers=10
            ),
            brand="Acme",
        ),
        scores=Scores(sentiment=sentiment, urgency=urgency, urgency_tier=tier, complaint=complaint),
    )


def reply(conv: str, n: int, at: datetime) -> ScoredMention:
    return ScoredMention(
        mention=NewMention(
            network="x",
            native_id=f"{conv}-{n}",
            conversation_id=conv,
            text="Sorry! DM us.",
            created_at=at,
            author=BRAND,
            brand="Acme",
            is_own=True,
        )
    )


@pytest.fixture
def report_store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/t.db")
    s.migrate()
    h = timedelta(hours=1)
    items = [
        # Started the week before, answered in this one: active this week.
        inbound("old", 1, MON - timedelta(days=2), "still waiting since saturday", who="olga"),
        # Only last week / only next week: not in the report.
        inbound("before", 1, MON - timedelta(seconds=1), "last week", who="pete"),
        inbound("a", 1, MON + 10 * h, FORMULA, who="jane", urgency=90, tier="critical", complaint=0.9),
        reply("a", 2, MON + 10 * h + timedelta(minutes=65)),
        reply("old", 2, MON + 11 * h),
        inbound("b", 1, MON + 34 * h, "+cmd", who="bob", sentiment="positive"),
        inbound("c", 1, MON + 58 * h, "@SUM(1)", who="carl", sentiment="neutral"),
        inbound(
            "d",
            1,
            MON + 82 * h,
            SCRIPT,
            who="dan",
            urgency=75,
            tier="high",
            complaint=0.8,
            name='<img src=x onerror="alert(2)">',
        ),
        inbound("e", 1, MON + 106 * h, "[bold]x[/bold]\x1b[2J", who="eve", sentiment=None),
        inbound("e", 2, MON + 107 * h, "-1+1 and more", who="eve", sentiment="positive"),
        inbound("after", 1, MON + timedelta(days=7), "next week", who="nina", urgency=99, tier="critical"),
    ]
    with s.write() as session:
        save_mentions(items, session=session)
        thread_a = session.exec(select(Thread).where(Thread.conversation_id == "a")).one()
        thread_a.assignee = "=sam"
        session.add(thread_a)
    yield s
    s.dispose()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_csv_has_one_safe_row_per_thread_of_the_week(report_store: Store, tmp_path: Path) -> None:
    paths = build_week_report(report_store, WEEK, tmp_path / "out")

    assert paths.csv.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = {r["first_message"].lstrip("'").split("(")[0][:12]: r for r in read_csv(paths.csv)}
    assert paths.threads == len(rows) == 6
    assert "last week" not in rows and "next week" not in rows
    a = rows["=HYPERLINK"]
    assert a["first_message"] == "'" + FORMULA
    assert (a["first_response_seconds"], a["first_response"]) == ("3900", "1h 05m")
    assert (a["customer"], a["handle"], a["network"], a["brand"]) == ("Jane", "jane", "x", "Acme")
    assert (a["urgency"], a["urgency_tier"], a["sentiment"], a["status"]) == (
        "90",
        "critical",
        "negative",
        "pending",
    )
    assert a["assignee"] == "'=sam"
    assert (a["mentions"], a["mentions_in_week"]) == ("2", "2")
    assert a["first_activity"] == "2026-11-16T10:00:00+00:00"
    assert rows["+cmd"]["first_message"] == "'+cmd" and rows["+cmd"]["first_response"] == ""
    assert rows["@SUM"]["first_message"] == "'@SUM(1)"
    assert rows[SCRIPT[:12]]["customer"] == '<img src=x onerror="alert(2)">'
    # First customer message unscored: the thread's dominant sentiment stands in; ESC is gone.
    e = rows["[bold]x[/bol"]
    assert (e["first_message"], e["sentiment"], e["mentions"]) == ("[bold]x[/bold][2J", "positive", "2")
    old = rows["still waiting since saturday"[:12]]
    assert (old["first_response"], old["mentions_in_week"]) == ("2d 11h", "1")
    for row in rows.values():
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.update(name for name, _value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_escaped_and_charted(report_store: Store, tmp_path: Path) -> None:
    page = build_week_report(report_store, WEEK, tmp_path).html.read_text(encoding="utf-8")

    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page
    parser = _Text()
    parser.feed(page)
    text = "".join(parser.text)
    # Escaped, not lost: a browser shows the hostile text literally.
    assert SCRIPT in text and FORMULA in text and '<img src=x onerror="alert(2)">' in text
    assert "script" not in parser.tags and "img" not in parser.tags
    # Nothing is loaded from anywhere and no handler can run.
    assert not {"src", "href", "onerror"} & parser.attrs
    assert not {"link", "iframe", "object", "embed"} & set(parser.tags)
    assert parser.tags.count("svg") == 1
    assert page.count('<g class="day"') == 7
    assert "2026-W47" in text and "median first response" in text
    # Median of 65 minutes and 2 days 11 hours.
    assert human_duration((3900 + 2 * 86400 + 11 * 3600 - 0) / 2) in text


def test_daily_volume_and_headline_figures(report_store: Store) -> None:
    start, end = parse_iso_week(WEEK)
    with report_store.read() as session:
        data = collect_week(WEEK, start, end, session=session)
    totals = [(d.day.isoformat(), d.total) for d in data.days]
    assert totals == [
        ("2026-11-16", 1),
        ("2026-11-17", 1),
        ("2026-11-18", 1),
        ("2026-11-19", 1),
        ("2026-11-20", 2),
        ("2026-11-21", 0),
        ("2026-11-22", 0),
    ]
    assert data.days[4].counts == {"negative": 0, "neutral": 0, "positive": 1, "unscored": 1}
    assert (data.mentions, data.complaints, len(data.threads)) == (6, 2, 6)


def test_progress_and_empty_week(report_store: Store, tmp_path: Path) -> None:
    said: list[str] = []
    paths = build_week_report(report_store, "2030-W01", tmp_path / "new" / "dir", progress=said.append)
    assert paths.threads == 0 and len(read_csv(paths.csv)) == 0
    assert "No thread had any activity" in paths.html.read_text(encoding="utf-8")
    assert said[0].startswith("Reading threads active in 2030-W01") and len(said) == 3


def test_parse_iso_week() -> None:
    assert parse_iso_week("2026-W47") == (MON, MON + timedelta(days=7))
    assert parse_iso_week("2026-W01")[0] == datetime(2025, 12, 29, tzinfo=UTC)
    assert parse_iso_week("2026-W53")[0] == datetime(2026, 12, 28, tzinfo=UTC)
    for bad in ("2026-47", "W47", "2026-11-16", "", "2026-W00", "2025-W53", "2026-W99"):
        with pytest.raises(ValueError, match="2026-W47"):
            parse_iso_week(bad)


def test_csv_safe_and_strip_controls() -> None:
    assert [csv_safe(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "ok", "a=b")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
        "ok",
        "a=b",
    ]
    assert (csv_safe(-3), csv_safe(2.5), csv_safe(None), csv_safe(True)) == ("-3", "2.5", "", "True")
    assert strip_controls("a\x1b[31mb\x07\x00c\r\nd\re\tf\x85\u202eg") == "a[31mbc\nd\ne\tf\u202eg"
