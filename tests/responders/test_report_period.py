"""The report's period as a reader meets it: named as people write dates, and an empty default week that says
where the mentions are instead of printing an empty page without a word."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from responders.report import build_report
from responders.report_period import iso_week_period, range_period, since_until_period, span_name, week_label
from store import Store
from store.clock import utcnow
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_periods_are_named_as_people_read_them() -> None:
    # `--since 2026-12-03` at 14:23 is compared with the 14 h 23 m before it.
    since = since_until_period("2026-12-03", None, now=at(2026, 12, 3, 14, 23))
    before = since.previous()
    assert before.label == "2026-12-02T0937_2026-12-03T0000"  # file names keep the sortable label
    assert (before.name, before.short) == ("2 Dec 2026, 09:37 – 3 Dec, 00:00", "2 Dec 09:37 – 3 Dec 00:00")
    assert since.title == "Report 3 Dec 2026, 00:00–14:23"
    assert range_period(at(2026, 12, 2), at(2026, 12, 4)).name == "2–3 Dec 2026"
    assert range_period(at(2026, 11, 30), at(2026, 12, 5)).title == "Report 30 Nov – 4 Dec 2026"
    assert range_period(at(2026, 12, 3), at(2026, 12, 4)).short == "3 Dec"
    assert span_name(at(2025, 12, 30), at(2026, 1, 3), year=False) == "30 Dec 2025 – 2 Jan 2026"
    week = iso_week_period("2026-W48")
    assert (week.name, week.short, week.title) == ("2026-W48", "W48", "Weekly report 2026-W48")


def _mention(native_id: str, created: datetime) -> ScoredMention:
    return ScoredMention(
        mention=NewMention(
            network="x",
            native_id=native_id,
            conversation_id=native_id,
            text="my refund never came #refund",
            created_at=created,
            author=Author(native_user_id="u1", handle="jane", display_name="Jane"),
            brand="acme",
        ),
        scores=Scores(sentiment="negative", complaint=0.9, urgency=60, urgency_tier="high"),
    )


def test_the_html_names_the_period_before_as_people_read_it(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/t.db")
    store.migrate()
    with store.write() as session:
        save_mentions([_mention("1", at(2026, 12, 3, 9))], session=session)
    period = since_until_period("2026-12-03", None, now=at(2026, 12, 3, 14, 23))
    page = build_report(store, period, tmp_path / "out", pdf=False, now=at(2026, 12, 3, 14, 23)).html
    html = page.read_text(encoding="utf-8")
    assert "2026-12-02T0937" not in html and "T0000" not in html
    assert "2 Dec 09:37 – 3 Dec 00:00" in html  # the comparison's legend and "vs" labels
    assert "<h1>Report 3 Dec 2026, 00:00–14:23</h1>" in html
    store.dispose()


def test_an_empty_default_week_names_the_period_that_holds_the_mentions(tmp_path: Path) -> None:
    # As after `earful demo`: everything in the store was posted this week, and the default is last week.
    posted = utcnow() - timedelta(seconds=5)
    store = Store(f"sqlite:///{tmp_path}/demo.db")
    store.migrate()
    with store.write() as session:
        save_mentions([_mention("1", posted), _mention("2", posted - timedelta(minutes=3))], session=session)
    store.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARFUL_")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "EARFUL_DATABASE__URL": store.url}

    def report(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "earful", "report", "--no-pdf", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    done = report("--out", str(tmp_path / "default"))
    assert done.returncode == 0, done.stderr
    last_week = week_label(utcnow() - timedelta(days=7))
    this_week = week_label(posted)
    days = (utcnow().date() - (posted - timedelta(minutes=3)).date()).days + 1
    assert (
        f"earful: no mentions in {last_week} (the last complete week, the default period); the store holds "
        f"{this_week} (" in done.stderr
    ), done.stderr
    assert f"use --week {this_week} or --days {days}." in done.stderr
    # The hint's option gives the report with the mentions in it, and no such note.
    hinted = report("--days", str(days), "--out", str(tmp_path / "hinted"))
    assert hinted.returncode == 0 and "no mentions" not in hinted.stderr, hinted.stderr
    assert len((tmp_path / "hinted" / "mentions.csv").read_text(encoding="utf-8-sig").splitlines()) == 3
