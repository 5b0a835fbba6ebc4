"""Durable delivery against real HTTP receivers on 127.0.0.1 (apprise's json:// plugin): a receiver down for over
an hour gets every alert exactly once when it is back, in order; a down subscriber is not hammered and does not
hold up the others; a poisoned message does not block the ones behind it; giving up waits a day."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alert_kit import Receiver, closed_port, fire
from pydantic import SecretStr
from sqlmodel import col, select

from responders.alerts import AlertSettings
from responders.delivery import DeliveryReport, deliver_pending, send_test
from responders.subscribers import Subscriber
from store import Store
from store.models import AlertEvent

T0 = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
SECRET = "hunter2secret"
# The retry cap this module proposes as AlertSettings' default (see the report): a target that is back gets
# everything within one cap.
CAP = 300.0


def settings_for(*subscribers: tuple[str, str], **options: Any) -> AlertSettings:
    options.setdefault("retry_cap_seconds", CAP)
    return AlertSettings(
        subscribers=[Subscriber(name=name, url=SecretStr(url)) for name, url in subscribers], **options
    )


def events(store: Store, subscriber: str | None = None) -> list[AlertEvent]:
    with store.read() as session:
        rows = session.exec(select(AlertEvent).order_by(col(AlertEvent.id))).all()
    return [e for e in rows if subscriber is None or e.subscriber == subscriber]


def test_receiver_down_for_70_minutes_gets_every_alert_once_when_back(
    sqlite_store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Figures: with retries capped at 5 minutes, a target back after 70 minutes down has everything within 5
    minutes (one cap) plus one deliverer period; while down it sees about two connection attempts per retry."""
    port = closed_port()
    settings = settings_for(
        ("pager", f"json://alice:{SECRET}@127.0.0.1:{port}/hook"),
        ("ops", f"json://127.0.0.1:{receiver.port}/hook"),
    )
    caplog.set_level(logging.DEBUG)
    step = timedelta(seconds=15)
    keys = [f"m{n:02d}" for n in range(14)]  # one every 5 minutes while the pager is down
    reports: list[DeliveryReport] = []
    moment = T0
    while moment < T0 + timedelta(minutes=70):
        if (moment - T0) % timedelta(minutes=5) == timedelta(0):
            fire(sqlite_store, settings, keys[(moment - T0) // timedelta(minutes=5)], moment)
        reports.append(deliver_pending(sqlite_store, settings, now=moment))
        moment += step

    # The other subscriber got each alert as it fired, never waiting for the one that is down.
    assert receiver.titles == [f"Critical complaint {k}" for k in keys]
    attempts_while_down = sum(r.failed for r in reports)
    assert attempts_while_down <= 40, attempts_while_down
    pager = events(sqlite_store, "pager")
    assert {e.status for e in pager} == {"pending"}
    assert all(SECRET not in (e.error or "") and str(port) not in (e.error or "") for e in pager)
    assert "connection" in (pager[0].error or "").lower()

    back = moment
    pager_receiver = Receiver(port)
    try:
        arrived_at: datetime | None = None
        while moment < back + timedelta(minutes=30):
            deliver_pending(sqlite_store, settings, now=moment)
            if arrived_at is None and len(pager_receiver.messages) == len(keys):
                arrived_at = moment
            moment += step
        titles = pager_receiver.titles
    finally:
        pager_receiver.close()

    assert Counter(titles) == {f"Critical complaint {k}": 1 for k in keys}, "each alert exactly once"
    assert titles == [f"Critical complaint {k}" for k in keys], "in the order they fired"
    assert arrived_at is not None and arrived_at - back <= timedelta(seconds=CAP) + step
    assert {e.status for e in events(sqlite_store)} == {"delivered"}
    assert SECRET not in caplog.text and "pager" in caplog.text


def test_a_poisoned_message_does_not_block_the_ones_behind_it(sqlite_store: Store) -> None:
    picky = Receiver(reject=lambda payload: "poison" in str(payload.get("title")))
    try:
        settings = settings_for(("picky", f"json://127.0.0.1:{picky.port}/hook"))
        fire(sqlite_store, settings, "poison", T0)
        for n in range(3):
            fire(sqlite_store, settings, f"m{n}", T0)
        first = deliver_pending(sqlite_store, settings, now=T0)
        assert (first.delivered, first.failed, first.waiting) == (0, 1, 3), "a fresh failure: looks down"

        moment = T0 + timedelta(seconds=10)
        while moment < T0 + timedelta(minutes=10):
            deliver_pending(sqlite_store, settings, now=moment)
            moment += timedelta(seconds=10)
        fire(sqlite_store, settings, "late", moment)
        deliver_pending(sqlite_store, settings, now=moment)

        assert picky.titles == ["Critical complaint m0", "Critical complaint m1", "Critical complaint m2"] + [
            "Critical complaint late"
        ]
        (poison,) = [e for e in events(sqlite_store) if e.title.endswith("poison")]
        # Tried on its own backoff (0, 30 s, 90 s, 210 s, 450 s), not on every run.
        assert (poison.status, poison.attempts) == ("pending", 5)
        assert "500" in (poison.error or "") and "other alerts got through, this one did not" in (
            poison.error or ""
        )
    finally:
        picky.close()


def test_gives_up_only_after_a_day_of_trying(sqlite_store: Store) -> None:
    settings = settings_for(("gone", f"json://127.0.0.1:{closed_port()}/hook"))
    fire(sqlite_store, settings, "old", T0)
    fire(sqlite_store, settings, "newer", T0 + timedelta(hours=1))
    moment, gave_up_at = T0, dict[str, datetime]()
    while moment <= T0 + timedelta(hours=26):
        report = deliver_pending(sqlite_store, settings, now=moment)
        for event in events(sqlite_store):
            if event.status == "failed":
                gave_up_at.setdefault(event.title, moment)
        assert report.next_attempt_at is None or report.next_attempt_at <= moment + timedelta(seconds=CAP)
        moment += timedelta(minutes=5)

    assert (
        T0 + timedelta(hours=24)
        <= gave_up_at["Critical complaint old"]
        <= T0 + timedelta(hours=24, minutes=5)
    )
    newer = gave_up_at["Critical complaint newer"]
    assert T0 + timedelta(hours=25) <= newer <= T0 + timedelta(hours=25, minutes=10)
    old, _ = events(sqlite_store)
    assert old.attempts > settings.max_attempts and "connection" in (old.error or "").lower()


def test_quiet_hours_stop_retries_too(sqlite_store: Store) -> None:
    port = closed_port()
    sleeper = Subscriber(
        name="sleeper", url=SecretStr(f"json://127.0.0.1:{port}/hook"), quiet_hours="22:00-07:00"
    )
    settings = AlertSettings(subscribers=[sleeper], retry_cap_seconds=CAP)
    evening = datetime(2026, 11, 17, 21, 59, tzinfo=UTC)
    fire(sqlite_store, settings, "m1", evening)
    assert deliver_pending(sqlite_store, settings, now=evening).failed == 1

    late = Receiver(port)
    try:
        moment = evening + timedelta(minutes=1)
        while moment < datetime(2026, 11, 18, 7, 0, tzinfo=UTC):
            report = deliver_pending(sqlite_store, settings, now=moment)
            assert report.next_attempt_at == datetime(2026, 11, 18, 7, 0, tzinfo=UTC)
            moment += timedelta(minutes=10)
        assert late.messages == []
        deliver_pending(sqlite_store, settings, now=datetime(2026, 11, 18, 7, 0, tzinfo=UTC))
        assert late.titles == ["Critical complaint m1"]
    finally:
        late.close()


def test_deliveries_for_a_removed_subscriber_are_dropped(sqlite_store: Store, receiver: Receiver) -> None:
    before = settings_for(("old", "json://127.0.0.1:9/x"), ("ops", f"json://127.0.0.1:{receiver.port}/hook"))
    fire(sqlite_store, before, "m1", T0)
    after = settings_for(("ops", f"json://127.0.0.1:{receiver.port}/hook"))

    report = deliver_pending(sqlite_store, after, now=T0)

    assert (report.delivered, report.gave_up) == (1, 1)
    assert [(e.subscriber, e.status, e.error) for e in events(sqlite_store)] == [
        ("old", "failed", "subscriber is no longer configured"),
        ("ops", "delivered", None),
    ]


def test_send_test_says_who_it_is_for_and_why_it_failed(receiver: Receiver) -> None:
    up = Subscriber(name="ops-hook", url=SecretStr(f"json://127.0.0.1:{receiver.port}/hook"))
    down = Subscriber(name="pager", url=SecretStr(f"json://alice:{SECRET}@127.0.0.1:{closed_port()}/hook"))
    settings = AlertSettings(subscribers=[up, down])

    assert send_test(up, settings) is None
    (message,) = receiver.messages
    assert message["title"] == "earful test alert"
    assert "if you can read this, ops-hook receives earful alerts" in message["message"]
    error = send_test(down, settings)
    assert error is not None and "connection" in error.lower() and SECRET not in error
    typo = Subscriber(name="typo", url=SecretStr("nosuchscheme://token-abcdef"))
    assert send_test(typo, settings) == "the subscriber URL is not a valid apprise URL"
