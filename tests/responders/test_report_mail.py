"""The Monday report: built once per week and queued for the subscribers who asked for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlmodel import select

from responders.alerts import AlertSettings
from responders.report_mail import queue_weekly_report
from responders.subscribers import Subscriber
from store import Store
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions
from store.models import AlertEvent, AlertFiring

MONDAY = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # reports on 2026-W47


def settings(*, readers: tuple[str, ...] = ("boss", "team")) -> AlertSettings:
    names = ("boss", "team", "ops")
    return AlertSettings(
        subscribers=[
            Subscriber(name=name, url=SecretStr(f"json://127.0.0.1:9/{name}"), weekly_report=name in readers)
            for name in names
        ]
    )


def some_mentions(store: Store) -> None:
    items = [
        ScoredMention(
            mention=NewMention(
                network="x",
                native_id=f"m{n}",
                conversation_id=f"c{n}",
                text='=HYPERLINK("http://evil") my parcel is lost',
                created_at=MONDAY - timedelta(days=n + 1),
                author=Author(native_user_id=f"u{n}", handle=f"user{n}"),
                brand="Acme",
            ),
            scores=Scores(sentiment="negative", complaint=0.9, urgency=40, urgency_tier="normal"),
        )
        for n in range(9)
    ]
    with store.write() as session:
        save_mentions(items, session=session)


def queued(store: Store) -> tuple[list[AlertFiring], list[AlertEvent]]:
    with store.read() as session:
        return list(session.exec(select(AlertFiring)).all()), list(session.exec(select(AlertEvent)).all())


def test_monday_queues_last_week_once_for_its_readers(sqlite_store: Store, tmp_path: Path) -> None:
    some_mentions(sqlite_store)
    root = tmp_path / "reports"
    config = settings()
    # Not a Monday, or a Monday before six: nothing is built.
    for moment in (MONDAY - timedelta(days=1), MONDAY - timedelta(minutes=1), MONDAY + timedelta(days=1)):
        assert queue_weekly_report(sqlite_store, config, now=moment, out_root=root) is None
    assert queued(sqlite_store) == ([], []) and not root.exists()

    firing = queue_weekly_report(sqlite_store, config, now=MONDAY + timedelta(minutes=5), out_root=root)

    assert firing is not None
    assert (firing.rule, firing.kind, firing.key, firing.revision) == (
        "weekly-report",
        "report",
        "2026-W47",
        0,
    )
    attachments = [Path(p) for p in firing.figures["attachments"]]
    assert firing.figures["week"] == "2026-W47"
    assert [p.name for p in attachments] == ["report.pdf", "threads.csv", "mentions.csv"]
    assert all(p.is_absolute() and p.parent == (root / "2026-W47").resolve() for p in attachments)
    assert attachments[0].read_bytes().startswith(b"%PDF")
    assert "'=HYPERLINK" in attachments[2].read_text(encoding="utf-8-sig")
    # One sentence with the headline figures; 7 of the 9 mentions fell in W47 (2 were in W46).
    assert firing.reason.startswith(
        "Week 2026-W47 (Mon 16 Nov 2026 to Sun 22 Nov 2026, UTC): 7 customer mentions (+250% vs W46), 7 complaints"
    )
    assert "complaints" in firing.reason and "SLA met" in firing.reason and firing.reason.endswith(".")

    firings, events = queued(sqlite_store)
    assert len(firings) == 1
    assert sorted(e.subscriber for e in events) == ["boss", "team"]  # "ops" did not ask for the report
    for event in events:
        assert (event.kind, event.status, event.rule, event.revision) == (
            "report",
            "pending",
            "weekly-report",
            0,
        )
        assert event.firing_id == firing.id and event.title == "earful weekly report 2026-W47"
        assert event.body.startswith(firing.reason) and "- complaints: 7" in event.body

    # Later that Monday, or after a restart: the week is already queued.
    assert queue_weekly_report(sqlite_store, config, now=MONDAY + timedelta(hours=3), out_root=root) is None
    assert [len(found) for found in queued(sqlite_store)] == [1, 2]


def test_nobody_asked_nothing_built(sqlite_store: Store, tmp_path: Path) -> None:
    root = tmp_path / "reports"
    assert queue_weekly_report(sqlite_store, settings(readers=()), now=MONDAY, out_root=root) is None
    assert queued(sqlite_store) == ([], []) and not root.exists()
