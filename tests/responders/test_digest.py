"""Digests against a real HTTP receiver on 127.0.0.1 (apprise's json:// plugin): quiet hours, the hourly cap,
hourly and daily digests in a subscriber's own time zone, and folding exactly once on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alert_kit import Receiver, fire
from pydantic import SecretStr
from sqlmodel import col, select

from responders.alert_rules import IncidentRule, TierRule
from responders.alerts import AlertSettings
from responders.delivery import deliver_pending
from responders.digest import fold_digests
from responders.firing import update_firing
from responders.subscribers import Subscriber, route_firing
from store import Store
from store.mentions import save_mentions
from store.models import AlertEvent, AlertFiring

PARIS = ZoneInfo("Europe/Paris")


def settings_for(receiver: Receiver, **options: Any) -> AlertSettings:
    hook = Subscriber(name="ops", url=SecretStr(f"json://127.0.0.1:{receiver.port}/hook"), **options)
    return AlertSettings(
        rules=[TierRule(name="urgent-mention"), IncidentRule(name="incidents")], subscribers=[hook]
    )


def run_until(store: Store, settings: AlertSettings, start: datetime, end: datetime, step: timedelta) -> None:
    """The deliverer running every `step` of simulated time."""
    moment = start
    while moment <= end:
        deliver_pending(store, settings, now=moment)
        moment += step


def statuses(store: Store) -> list[tuple[str, str]]:
    with store.read() as session:
        rows = session.exec(select(AlertEvent).order_by(col(AlertEvent.id))).all()
        return [(e.kind, e.status) for e in rows]


def test_quiet_hours_hold_everything_then_one_digest_when_they_end(
    sqlite_store: Store, receiver: Receiver
) -> None:
    settings = settings_for(receiver, quiet_hours="22:00-07:00", timezone="Europe/Paris")
    evening = datetime(2026, 11, 17, 21, 50, tzinfo=PARIS)
    fire(sqlite_store, settings, "before-bed", evening.astimezone(UTC))
    deliver_pending(sqlite_store, settings, now=evening)
    assert receiver.titles == ["Critical complaint before-bed"]

    for key, at in [("a", (22, 30)), ("b", (23, 55)), ("c", (3, 10))]:
        day = 17 if at[0] >= 22 else 18
        fire(sqlite_store, settings, key, datetime(2026, 11, day, *at, tzinfo=PARIS).astimezone(UTC))
    dawn = datetime(2026, 11, 18, 7, 0, tzinfo=PARIS)
    run_until(sqlite_store, settings, evening, dawn - timedelta(seconds=1), timedelta(minutes=5))
    assert len(receiver.messages) == 1, "nothing arrives during the quiet hours"

    report = deliver_pending(sqlite_store, settings, now=dawn)
    assert (report.digests, report.delivered) == (1, 1)
    digest = receiver.messages[-1]
    assert digest["title"] == "earful digest: 3 alerts (3 critical mentions)"
    body = str(digest["message"])
    assert [line for line in body.splitlines() if line[:2] in ("1.", "2.", "3.")] == [
        "1. Critical complaint a",
        "2. Critical complaint b",
        "3. Critical complaint c",
    ]
    assert "since 2026-11-17 22:30 (Europe/Paris)" in body
    run_until(sqlite_store, settings, dawn, dawn + timedelta(hours=2), timedelta(minutes=10))
    assert len(receiver.messages) == 2
    assert statuses(sqlite_store) == [("alert", "delivered")] + [("alert", "folded")] * 3 + [
        ("digest", "delivered")
    ]


def test_cap_sends_three_at_once_and_a_digest_of_two_on_the_hour(
    sqlite_store: Store, receiver: Receiver
) -> None:
    settings = settings_for(receiver, max_per_hour=3)
    start = datetime(2026, 11, 17, 9, 20, tzinfo=UTC)
    for n in range(5):
        fire(sqlite_store, settings, f"m{n}", start + timedelta(minutes=n))
        deliver_pending(sqlite_store, settings, now=start + timedelta(minutes=n))
    run_until(
        sqlite_store, settings, start, datetime(2026, 11, 17, 9, 59, 59, tzinfo=UTC), timedelta(minutes=1)
    )
    assert receiver.titles == [f"Critical complaint m{n}" for n in range(3)]

    report = deliver_pending(sqlite_store, settings, now=datetime(2026, 11, 17, 10, 0, tzinfo=UTC))

    assert report.delivered == 1
    assert receiver.titles[-1] == "earful digest: 2 alerts (2 critical mentions)"
    assert "Critical complaint m3" in receiver.messages[-1]["message"]
    assert "Critical complaint m4" in receiver.messages[-1]["message"]
    assert len(receiver.messages) == 4


def test_hourly_digest_in_a_half_hour_time_zone(sqlite_store: Store, receiver: Receiver) -> None:
    settings = settings_for(receiver, mode="digest", timezone="Asia/Kolkata")
    kolkata = ZoneInfo("Asia/Kolkata")
    for key, minute in [("a", 5), ("b", 40), ("c", 59)]:
        fire(sqlite_store, settings, key, datetime(2026, 11, 17, 9, minute, tzinfo=kolkata).astimezone(UTC))
    fire(sqlite_store, settings, "next-hour", datetime(2026, 11, 17, 10, 1, tzinfo=kolkata).astimezone(UTC))

    run_until(
        sqlite_store,
        settings,
        datetime(2026, 11, 17, 9, 0, tzinfo=kolkata),
        datetime(2026, 11, 17, 9, 59, 59, tzinfo=kolkata),
        timedelta(minutes=5),
    )
    assert receiver.messages == []
    # 10:00 in Kolkata is 04:30 UTC: the three alerts of the 9 o'clock hour, not the one after.
    deliver_pending(sqlite_store, settings, now=datetime(2026, 11, 17, 4, 30, tzinfo=UTC))
    assert receiver.titles == ["earful digest: 3 alerts (3 critical mentions)"]
    deliver_pending(sqlite_store, settings, now=datetime(2026, 11, 17, 5, 30, tzinfo=UTC))
    assert receiver.titles[1] == "earful digest: 1 alert (1 critical mention)"


def test_daily_digest_lists_an_updated_incident_once_as_it_stands(
    sqlite_store: Store, receiver: Receiver, make_mention: Any
) -> None:
    settings = settings_for(
        receiver, mode="digest", digest="daily", daily_at="08:00", timezone="America/New_York"
    )
    with sqlite_store.write() as session:
        (mention,) = save_mentions([make_mention("n1")], session=session).stored
    noon = datetime(2026, 11, 17, 17, 0, tzinfo=UTC)  # 12:00 in New York
    fire(sqlite_store, settings, "m1", noon)
    fire(
        sqlite_store,
        settings,
        "incident:7",
        noon,
        rule="incidents",
        kind="incident",
        thread_ids=[mention.thread_id],
    )
    with sqlite_store.write() as session:
        incident = session.exec(select(AlertFiring).where(AlertFiring.key == "incident:7")).one()
        later = noon + timedelta(hours=2)
        update_firing(
            incident,
            session=session,
            now=later,
            title="Checkout outage: 12 customers",
            reason="12 customers say checkout fails",
        )
        route_firing(incident, session=session, settings=settings, now=later)

    run_until(sqlite_store, settings, noon, datetime(2026, 11, 18, 12, 59, tzinfo=UTC), timedelta(minutes=30))
    assert receiver.messages == []
    deliver_pending(sqlite_store, settings, now=datetime(2026, 11, 18, 13, 0, tzinfo=UTC))  # 08:00 New York

    (digest,) = receiver.messages
    assert digest["title"] == "earful digest: 2 alerts (1 critical mention, 1 incident)"
    assert str(digest["message"]).splitlines()[2:] == [
        "1. Critical complaint m1",
        "   Critical complaint m1 about Acme on X",
        "",
        "2. Update: Checkout outage: 12 customers (updated 1 time while held)",
        "   12 customers say checkout fails",
        f"   Open it: earful tui --thread {mention.thread_id}",
    ]


def test_folding_is_once_even_when_two_deliverers_race(any_store: Store, receiver: Receiver) -> None:
    settings = settings_for(receiver, mode="digest")
    at = datetime(2026, 11, 17, 9, 10, tzinfo=UTC)
    for n in range(4):
        fire(any_store, settings, f"m{n}", at + timedelta(minutes=n))
    assert fold_digests(any_store, settings, now=datetime(2026, 11, 17, 9, 59, tzinfo=UTC)) == 0

    due = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    made: list[int] = []
    start = threading.Barrier(3)

    def fold() -> None:
        start.wait()
        made.append(fold_digests(any_store, settings, now=due))

    workers = [threading.Thread(target=fold) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert sum(made) == 1
    with any_store.read() as session:
        rows = session.exec(select(AlertEvent).order_by(col(AlertEvent.id))).all()
    (digest,) = [r for r in rows if r.kind == "digest"]
    assert [(r.status, r.digest_id) for r in rows if r.kind == "alert"] == [("folded", digest.id)] * 4
    assert digest.title == "earful digest: 4 alerts (4 critical mentions)"
    assert fold_digests(any_store, settings, now=due + timedelta(hours=3)) == 0
