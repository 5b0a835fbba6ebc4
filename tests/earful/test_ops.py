"""`earful status`, `earful export mentions` and the silent-source alert, on a real SQLite store."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from sqlmodel import select

from earful.ops import export_mentions, print_status, status_report
from responders.alerts import AlertSettings, Subscriber
from responders.silence import queue_silence_alert, silent_sources
from store.clock import utcnow
from store.health import HealthRow, record_health
from store.mentions import save_mentions
from store.models import AlertEvent, SourceHealth


def test_status_shows_each_source_its_rate_limit_and_a_stopped_process(sqlite_store):
    now = utcnow()
    with sqlite_store.write() as s:
        record_health(
            [
                HealthRow(
                    "x:stream", "x", "streaming", last_event_at=now - timedelta(seconds=5), delivered=82
                ),
                HealthRow(
                    "reddit:comments:support",
                    "reddit",
                    "rate-limited",
                    "0 calls left",
                    until=now + timedelta(minutes=3),
                ),  # fmt: skip
                HealthRow("mastodon:tag:acme", "mastodon", "retrying", "HTTP 503: Service Unavailable"),
            ],
            reporter="host:1",
            session=s,
        )
        # A process that stopped reporting a while ago.
        s.get(SourceHealth, "mastodon:tag:acme").updated_at = now - timedelta(minutes=5)
    report = status_report(sqlite_store)
    by_source = {row["source"]: row for row in report["sources"]}
    assert by_source["x:stream"]["last_event"] == "5s ago"
    assert by_source["x:stream"]["summary"] == "streaming"
    assert by_source["reddit:comments:support"]["summary"].startswith("rate-limited until ")
    assert by_source["reddit:comments:support"]["summary"].endswith("UTC: 0 calls left")
    assert by_source["mastodon:tag:acme"]["running"] is False
    assert "not running" in by_source["mastodon:tag:acme"]["summary"]
    out = io.StringIO()
    print_status(report, out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:2] == ["SOURCE", "LAST"]
    assert any(line.startswith("x:stream") and " 82 " in line for line in lines)


def test_status_explains_what_to_do_when_nothing_ever_reported(sqlite_store):
    out = io.StringIO()
    print_status(status_report(sqlite_store), out)
    assert "earful serve" in out.getvalue()


def test_export_writes_every_mention_with_thread_author_and_scores(sqlite_store, make_mention):
    items = [
        make_mention("1", text="@acme my order never arrived", handle="jane"),
        make_mention("2", text='=HYPERLINK("http://evil")', conversation="c2", author="u2", handle="mallory"),
        make_mention("3", text="emoji 😡 and\nnewline", conversation="c1", minutes=1, handle="jane"),
    ]
    with sqlite_store.write() as s:
        save_mentions(items, session=s)
    out = io.StringIO()
    assert export_mentions(sqlite_store, out, "jsonl") == 3
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["native_id"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["author"]["handle"] == "jane"
    assert rows[0]["thread"]["conversation_id"] == "c1" == rows[2]["thread"]["conversation_id"]
    assert rows[0]["scores"]["tier"] == "normal" and rows[0]["scores"]["complaint"] == 0.9
    assert rows[2]["text"] == "emoji 😡 and\nnewline"

    sheet = io.StringIO()
    export_mentions(sqlite_store, sheet, "csv")
    table = list(csv.DictReader(io.StringIO(sheet.getvalue())))
    # A spreadsheet must show the formula as text, never run it.
    assert table[1]["text"].startswith("'=")


def test_a_silent_source_alerts_once_per_silence(sqlite_store):
    settings = AlertSettings(
        source_silent_minutes=30, subscribers=[Subscriber(name="oncall", url="json://localhost/hook")]
    )
    now = utcnow()
    started = now - timedelta(hours=2)
    last = {"x:stream": now - timedelta(minutes=45), "reddit:comments:support": now - timedelta(minutes=5)}
    quiet = silent_sources(last, since=started, settings=settings, now=now)
    assert list(quiet) == ["x:stream"]
    with sqlite_store.write() as s:
        first = queue_silence_alert(
            "x:stream", "x", quiet["x:stream"], "streaming", session=s, settings=settings
        )
    with sqlite_store.write() as s:
        again = queue_silence_alert(
            "x:stream", "x", quiet["x:stream"], "streaming", session=s, settings=settings
        )
    assert len(first) == 1 and again == []
    with sqlite_store.read() as s:
        event = s.exec(select(AlertEvent)).one()
    assert "silent for 45 min" in event.title
    assert "earful status" in event.body
    # A source that never delivered anything counts from the start of the process; 0 turns the rule off.
    assert silent_sources({"bluesky:jetstream": None}, since=started, settings=settings, now=now)
    off = settings.model_copy(update={"source_silent_minutes": 0})
    assert silent_sources(last, since=started, settings=off, now=now) == {}


def test_export_says_why_each_mention_is_urgent(sqlite_store, make_mention):
    angry = make_mention("1", text="@acme =cmd|' /C calc'!A0 never arrived, lawyer", handle="mallory")
    angry.scores.explanation = ["=cmd|' /C calc'!A0", "never arrived", "lawyer"]
    angry.scores.risks = ["legal"]
    calm = make_mention("2", text="@acme thanks", conversation="c2", author="u2")
    with sqlite_store.write() as s:
        save_mentions([angry, calm], session=s)

    out = io.StringIO()
    export_mentions(sqlite_store, out, "jsonl")
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0]["scores"]["explanation"] == ["=cmd|' /C calc'!A0", "never arrived", "lawyer"]
    assert rows[0]["scores"]["risks"] == ["legal"]
    assert (rows[1]["scores"]["explanation"], rows[1]["scores"]["risks"]) == ([], [])

    sheet = io.StringIO()
    export_mentions(sqlite_store, sheet, "csv")
    table = list(csv.DictReader(io.StringIO(sheet.getvalue())))
    # The phrases are the mention's own words: a spreadsheet shows them, it never runs them.
    assert table[0]["explanation"] == "'=cmd|' /C calc'!A0; never arrived; lawyer"
    assert table[0]["risks"] == "legal"
    assert (table[1]["explanation"], table[1]["risks"]) == ("", "")


def test_status_tells_a_process_waiting_for_the_database_from_one_that_stopped(sqlite_store):
    import os
    import socket
    import subprocess
    import sys

    from store.health import clear_waiting_note, write_waiting_note

    now = utcnow()
    # This process plays `earful listen` waiting for disk space: its rows stopped two minutes ago (it cannot
    # write them) and it says so outside the database; another process, long gone, left its rows too.
    alive = f"{socket.gethostname()}:{os.getpid()}"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = f"{socket.gethostname()}:{gone.stdout.strip()}"
    with sqlite_store.write() as s:
        record_health([HealthRow("x:stream", "x", "streaming")], reporter=alive, session=s)
        record_health([HealthRow("reddit:comments:acme", "reddit", "polling")], reporter=dead, session=s)
        for row in s.exec(select(SourceHealth)):
            row.updated_at = now - timedelta(minutes=2)
    waiting = "the database sqlite:///x.db is out of space: database or disk is full. Fix: free space"
    write_waiting_note(alive, waiting, now - timedelta(minutes=2))
    write_waiting_note(dead, "it was waiting once", now - timedelta(minutes=2))
    try:
        by_source = {row["source"]: row for row in status_report(sqlite_store)["sources"]}
    finally:
        clear_waiting_note(alive)
        clear_waiting_note(dead)
    x = by_source["x:stream"]
    assert x["running"] is True
    assert x["summary"].startswith("running, but cannot report (last report 2m ago, state then: streaming)")
    assert "out of space" in x["summary"] and "free space" in x["summary"]
    reddit = by_source["reddit:comments:acme"]
    assert reddit["running"] is False and reddit["summary"].startswith("not running")
