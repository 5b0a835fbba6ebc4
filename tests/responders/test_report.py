"""The report's files (threads.csv, mentions.csv, report.html) and the `earful report` command, built from a real
SQLite store holding hostile mention text."""

from __future__ import annotations

import csv
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlmodel import select

from responders.report import CSV_COLUMNS, build_week_report, parse_iso_week
from responders.report_csv import MENTION_COLUMNS
from responders.report_data import collect
from responders.report_period import iso_week_period, parse_moment, since_until_period
from responders.safe import csv_safe, strip_controls
from responders.sla import SLASettings
from store import Store
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions
from store.models import Thread

WEEK = "2026-W47"
MON = datetime(2026, 11, 16, tzinfo=UTC)
BRAND = Author(native_user_id="acme", handle="acme", display_name="Acme")
FORMULA = '=HYPERLINK("http://evil","x")'
SCRIPT = "<script>alert(1)</script>"
# An entity as hostile as a mention can make it: markup, mathtext and a terminal escape.
ENTITY = "$\\alpha$ <script>x</script>\x1b[31m"


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
    entities: list[dict[str, str]] | None = None,
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
        scores=Scores(
            sentiment=sentiment,
            urgency=urgency,
            urgency_tier=tier,
            complaint=complaint,
            entities=entities or [],
        ),
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
            entities=[{"label": "PRODUCT", "text": ENTITY}],
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


def read_csv(path: Path, columns: tuple[str, ...] = CSV_COLUMNS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == columns
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def no_formula(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
            assert "\x1b" not in cell


def test_threads_csv_has_one_safe_row_per_thread_of_the_week(report_store: Store, tmp_path: Path) -> None:
    paths = build_week_report(report_store, WEEK, tmp_path / "out", pdf=False)

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
    no_formula(list(rows.values()))


def test_mentions_csv_has_every_post_of_the_week_safe_in_the_order_stored(
    report_store: Store, tmp_path: Path
) -> None:
    paths = build_week_report(report_store, WEEK, tmp_path, pdf=False)

    assert paths.mentions_csv.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = read_csv(paths.mentions_csv, MENTION_COLUMNS)
    # Six customer mentions and the brand's two replies, as earful stored them; nothing from the weeks around.
    assert [r["native_id"] for r in rows] == ["a-1", "a-2", "old-2", "b-1", "c-1", "d-1", "e-1", "e-2"]
    assert paths.data.mention_rows == 8
    first, reply_row = rows[0], rows[1]
    assert (first["text"], first["author_handle"], first["network"], first["brand"]) == (
        "'" + FORMULA,
        "jane",
        "x",
        "Acme",
    )
    assert (first["created_at"], first["sentiment"], first["complaint"], first["urgency"]) == (
        "2026-11-16T10:00:00+00:00",
        "negative",
        "0.900",
        "90",
    )
    assert (first["urgency_tier"], first["is_own"], reply_row["is_own"], reply_row["author_handle"]) == (
        "critical",
        "false",
        "true",
        "acme",
    )
    texts = {r["native_id"]: r["text"] for r in rows}
    assert (texts["b-1"], texts["c-1"], texts["e-2"]) == ("'+cmd", "'@SUM(1)", "'-1+1 and more")
    assert texts["e-1"] == "[bold]x[/bold][2J" and texts["d-1"] == SCRIPT
    assert len({r["thread_id"] for r in rows}) == 6
    no_formula(rows)
    # Customer data: readable by the owner only, like every file of the report.
    for path in (paths.csv, paths.mentions_csv, paths.html):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: dict[str, set[str]] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.setdefault(name, set()).add(value or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_escaped_and_charted(report_store: Store, tmp_path: Path) -> None:
    paths = build_week_report(report_store, WEEK, tmp_path, pdf=False)
    page = paths.html.read_text(encoding="utf-8")

    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page
    parser = _Text()
    parser.feed(page)
    text = "".join(parser.text)
    # Escaped, not lost: a browser shows the hostile text literally.
    assert SCRIPT in text and FORMULA in text and '<img src=x onerror="alert(2)">' in text
    assert "script" not in parser.tags and "img" not in parser.tags
    # Nothing is loaded from anywhere and no handler can run; the charts' links point inside themselves.
    assert not {"src", "href", "onerror", "onload"} & set(parser.attrs)
    assert all(ref.startswith("#") for ref in parser.attrs.get("xlink:href", set()))
    assert not {"link", "iframe", "object", "embed", "foreignobject"} & set(parser.tags)
    assert "default-src 'none'" in page
    charts = re.findall(r'<svg[^>]*class="chart chart-(\w+)"', page)
    assert charts == ["volume", "sentiment", "urgency", "response", "entities", "topics"]
    assert "2026-W47" in text and "median first response" in text and "vs W46" in text
    # First responses count for the week the thread started in: "old" (answered in 2d 11h) is W46's, so W47's
    # only answered thread sets its median, and it is far better.
    first_response = '<b>1h 05m</b><span>median first response</span><span class="change better">-98% vs W46'
    assert first_response in page
    # The hostile entity is charted as plain text: its $...$ is not typeset as maths (an alpha), its markup is
    # escaped and its terminal escape gone.
    entities = page[page.index("chart-entities") : page.index("chart-topics")]
    assert "$\\alpha$ &lt;script&gt;x&lt;/script&gt;[31m" in entities and "α" not in page
    assert "$\\alpha$ <script>x</script>[31m" in text


def test_daily_volume_and_headline_figures(report_store: Store) -> None:
    with report_store.read() as session:
        data = collect(session, iso_week_period(WEEK), sla=SLASettings().budgets())
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
    assert (data.current.mentions, data.current.complaints, data.current.threads) == (6, 2, 6)
    assert (data.prior.mentions, data.prior.threads) == (2, 2)


def test_progress_counts_every_step_and_an_empty_week_still_reports(
    report_store: Store, tmp_path: Path
) -> None:
    heard: list[tuple[int, int, str]] = []
    paths = build_week_report(
        report_store, "2030-W01", tmp_path / "new" / "dir", progress=lambda *a: heard.append(a), pdf=False
    )
    assert paths.threads == 0 and len(read_csv(paths.csv)) == 0
    assert read_csv(paths.mentions_csv, MENTION_COLUMNS) == []
    page = paths.html.read_text(encoding="utf-8")
    assert "No thread had any activity" in page and "No customer mentions in this period</text>" in page
    done = [d for d, _total, _step in heard]
    # Work is counted in each step's usual share, so the share done extrapolates to the time left.
    assert done == sorted(done) and done[0] == 0 and heard[-1][:2] == (100, 100)
    assert {total for _d, total, _s in heard} == {100}
    assert any("mentions.csv" in step for _d, _t, step in heard)


def test_periods() -> None:
    assert parse_iso_week("2026-W47") == (MON, MON + timedelta(days=7))
    assert parse_iso_week("2026-W01")[0] == datetime(2025, 12, 29, tzinfo=UTC)
    assert parse_iso_week("2026-W53")[0] == datetime(2026, 12, 28, tzinfo=UTC)
    for bad in ("2026-47", "W47", "2026-11-16", "", "2026-W00", "2025-W53", "2026-W99"):
        with pytest.raises(ValueError, match="2026-W47"):
            parse_iso_week(bad)
    week = iso_week_period("2026-W01")
    assert (week.previous().label, week.previous().start) == ("2025-W52", datetime(2025, 12, 22, tzinfo=UTC))

    now = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    days = since_until_period("2026-11-16", "2026-11-22", now=now)
    assert (days.start, days.end, days.label, days.is_week) == (
        MON,
        MON + timedelta(days=7),
        "2026-11-16_2026-11-22",
        False,
    )
    assert days.previous().start == MON - timedelta(days=7)
    hours = since_until_period("2026-11-16T09:30", None, now=now)
    assert (hours.start, hours.end) == (MON + timedelta(hours=9, minutes=30), now)
    assert hours.previous().end == hours.start and hours.previous().length == hours.length
    assert parse_moment("2026-11-16T10:00+01:00", name="--since") == MON + timedelta(hours=9)
    with pytest.raises(ValueError, match="--since: expected a date like 2026-11-16"):
        since_until_period("last monday", None, now=now)
    with pytest.raises(ValueError, match="must come after --since"):
        since_until_period("2026-11-20", "2026-11-19T00:00", now=now)


def test_csv_safe_and_strip_controls() -> None:
    assert [csv_safe(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "ok", "a=b")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "\nx",  # a CR is a line break, never a raw CR: it would overwrite the line on a terminal
        "ok",
        "a=b",
    ]
    # Control characters go before the formula check, so dropping one cannot uncover a formula.
    assert csv_safe("\x1b=cmd|'/c calc'!A1\x9b\x07") == "'=cmd|'/c calc'!A1"
    assert (csv_safe(-3), csv_safe(2.5), csv_safe(None), csv_safe(True)) == ("-3", "2.5", "", "True")
    assert strip_controls("a\x1b[31mb\x07\x00c\r\nd\re\tf\x85\u202eg") == "a[31mbc\nd\ne\tf\u202eg"


def earful(args: list[str], tmp_path: Path, database: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "EARFUL_DATABASE__URL": database,
    }
    environment.pop("EARFUL_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "earful", "report", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )


def test_cli_writes_a_range_and_names_what_it_expects(report_store: Store, tmp_path: Path) -> None:
    database = report_store.url
    out = tmp_path / "range"
    done = earful(
        ["--since", "2026-11-16", "--until", "2026-11-18", "--out", str(out), "--no-pdf"], tmp_path, database
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(out / n) for n in ("report.html", "threads.csv", "mentions.csv")]
    assert "Report 16–18 Nov 2026" in done.stderr and "[100%] Done" in done.stderr
    # Thread a (Mon), b (Tue), c (Wed) and old (answered on Monday).
    assert len(read_csv(out / "threads.csv")) == 4

    for args, expected in (
        (["--week", "2026-47"], "expected an ISO week like 2026-W47"),
        (["--since", "last monday"], "expected a date like 2026-11-16"),
        (["--week", "2026-W47", "--since", "2026-11-16"], "give one of --week, --since/--until or --days"),
        (["--until", "2026-11-16"], "--until needs --since"),
        (["--since", "2026-11-18", "--until", "2026-11-16T00:00"], "must come after --since"),
    ):
        failed = earful([*args, "--out", str(tmp_path / "bad")], tmp_path, database)
        assert failed.returncode == 2, (args, failed.stderr)
        assert expected in " ".join(failed.stderr.split()), failed.stderr
        assert "Traceback" not in failed.stderr
    assert not (tmp_path / "bad").exists()


def test_a_second_process_writes_the_same_mentions_csv(report_store: Store, tmp_path: Path) -> None:
    inline = build_week_report(report_store, WEEK, tmp_path / "inline", pdf=False, parallel=False)
    beside = build_week_report(report_store, WEEK, tmp_path / "beside", pdf=False, parallel=True)
    assert beside.mentions_csv.read_bytes() == inline.mentions_csv.read_bytes()
    assert beside.data.mention_rows == inline.data.mention_rows == 8
    assert stat.S_IMODE(os.stat(beside.mentions_csv).st_mode) == 0o600


def test_cli_shows_a_progress_bar_on_a_terminal(report_store: Store, tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    environment = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "EARFUL_DATABASE__URL": report_store.url,
        "TERM": "xterm-256color",
        "COLUMNS": "120",
    }
    environment.pop("EARFUL_CONFIG", None)
    command = [
        sys.executable,
        "-m",
        "earful",
        "report",
        "--week",
        WEEK,
        "--out",
        str(tmp_path / "tty"),
        "--no-pdf",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, env=environment) as child:
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        out, _ = child.communicate(timeout=120)
    os.close(leader)
    assert child.returncode == 0, shown.decode(errors="replace")
    screen = shown.decode("utf-8", errors="replace")
    # rich's bar, its count of steps, and no plain "[n/9]" lines: those are for logs and pipes.
    assert "━" in screen and "100%" in screen and "[100%]" not in screen
    assert out.decode().split()[0].endswith("report.html")
