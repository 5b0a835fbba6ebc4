"""Who hears what and when: subscriber filters, local-time schedules (quiet hours, digests, DST), the hourly cap,
and routing a firing into deliveries in a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, ValidationError
from sqlmodel import col, select

from responders.alert_rules import AlertRule, IncidentRule, TierRule, VolumeSpikeRule
from responders.alerts import AlertSettings
from responders.firing import record_firing, update_firing
from responders.subscribers import Subscriber, route_firing
from store import Store
from store.mentions import save_mentions
from store.models import AlertEvent, AlertFiring

T0 = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
RULES: list[AlertRule] = [
    TierRule(name="urgent-mention"),
    IncidentRule(name="incidents"),
    VolumeSpikeRule(name="spikes"),
]


def subscriber(name: str, **options: Any) -> Subscriber:
    return Subscriber(name=name, url=SecretStr(f"json://127.0.0.1:9/{name}"), **options)


def settings_with(*subscribers: Subscriber) -> AlertSettings:
    return AlertSettings(rules=RULES, subscribers=list(subscribers))


def fire(
    store: Store,
    settings: AlertSettings,
    key: str,
    *,
    now: datetime = T0,
    rule: str = "urgent-mention",
    kind: str = "tier",
    brand: str | None = "acme",
    network: str | None = "x",
    figures: dict[str, Any] | None = None,
    thread_ids: tuple[int, ...] = (),
) -> list[AlertEvent]:
    """Store a firing the way the rules do and route it; the deliveries it made."""
    with store.write() as session:
        firing = record_firing(
            session=session,
            rule=rule,
            kind=kind,
            key=key,
            title=f"Alert {key}",
            reason=f"Why {key} fired",
            now=now,
            brand=brand,
            network=network,
            figures=figures,
            thread_ids=thread_ids,
        )
        assert firing is not None
        return route_firing(firing, session=session, settings=settings, now=now)


def events(store: Store) -> list[AlertEvent]:
    with store.read() as session:
        return list(session.exec(select(AlertEvent).order_by(col(AlertEvent.id))).all())


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_quiet_hours_span_midnight_in_the_subscriber_time_zone() -> None:
    night = subscriber("night", timezone="Europe/Paris", quiet_hours="22:00-07:00")

    # Winter (CET, UTC+1) and summer (CEST, UTC+2): the same local hours, different UTC ones.
    assert night.quiet_until(local("Europe/Paris", 2026, 11, 17, 22, 30)) == local(
        "Europe/Paris", 2026, 11, 18, 7, 0
    )
    assert night.quiet_until(datetime(2026, 11, 17, 21, 30, tzinfo=UTC)) == datetime(
        2026, 11, 18, 6, 0, tzinfo=UTC
    )
    assert night.quiet_until(datetime(2026, 7, 1, 20, 0, tzinfo=UTC)) == datetime(
        2026, 7, 2, 5, 0, tzinfo=UTC
    )
    # After midnight the same quiet hours end that morning.
    assert night.quiet_until(local("Europe/Paris", 2026, 11, 18, 6, 59)) == local(
        "Europe/Paris", 2026, 11, 18, 7, 0
    )
    for awake in [(7, 0), (12, 0), (21, 59)]:
        assert night.quiet_until(local("Europe/Paris", 2026, 11, 18, *awake)) is None
    lunch = subscriber("lunch", quiet_hours="12:00-13:30")
    assert lunch.quiet_until(datetime(2026, 11, 17, 12, 45, tzinfo=UTC)) == datetime(
        2026, 11, 17, 13, 30, tzinfo=UTC
    )
    assert lunch.quiet_until(datetime(2026, 11, 17, 13, 30, tzinfo=UTC)) is None
    assert subscriber("always").quiet_until(T0) is None


def test_digest_times_follow_the_local_clock_across_dst() -> None:
    # New York springs forward on 2026-03-08: 08:00 local is 13:00 UTC the day before, 12:00 UTC that day.
    daily = subscriber("daily", mode="digest", digest="daily", daily_at="08:00", timezone="America/New_York")
    assert daily.next_digest_at(datetime(2026, 3, 7, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 7, 13, 0, tzinfo=UTC
    )
    assert daily.next_digest_at(datetime(2026, 3, 7, 13, 0, tzinfo=UTC)) == datetime(
        2026, 3, 8, 12, 0, tzinfo=UTC
    )
    # India is UTC+5:30: its hours start at half past in UTC.
    hourly = subscriber("hourly", mode="digest", timezone="Asia/Kolkata")
    assert hourly.next_digest_at(datetime(2026, 11, 17, 4, 10, tzinfo=UTC)) == datetime(
        2026, 11, 17, 4, 30, tzinfo=UTC
    )
    # Paris falls back on 2026-10-25: 02:00-03:00 happens twice, and each is an hour of its own.
    paris = subscriber("paris", mode="digest", timezone="Europe/Paris")
    assert paris.next_digest_at(datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == datetime(
        2026, 10, 25, 1, 0, tzinfo=UTC
    )
    assert paris.next_digest_at(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == datetime(
        2026, 10, 25, 2, 0, tzinfo=UTC
    )
    # A digest that would land in the quiet hours goes when they end.
    quiet_digest = subscriber("q", mode="digest", quiet_hours="22:00-07:00")
    assert quiet_digest.hold_until(datetime(2026, 11, 17, 21, 10, tzinfo=UTC), over_cap=False) == datetime(
        2026, 11, 18, 7, 0, tzinfo=UTC
    )


def test_config_is_checked() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        subscriber("a", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="quiet_hours"):
        subscriber("a", quiet_hours="10pm-7am")
    with pytest.raises(ValidationError, match="not configured"):
        settings_with(subscriber("a", rules=["no-such-rule"]))
    assert "hunter2" not in repr(
        subscriber("a").model_copy(update={"url": SecretStr("json://u:hunter2@h/x")})
    )


def test_each_subscriber_gets_what_its_filters_ask_for(sqlite_store: Store) -> None:
    settings = settings_with(
        subscriber("everything"),
        subscriber("acme-only", brands=["acme"]),
        subscriber("mastodon-only", networks=["mastodon"]),
        subscriber("incident-desk", rules=["incidents"]),
    )

    def who(key: str, **kwargs: Any) -> list[str]:
        return sorted(e.subscriber for e in fire(sqlite_store, settings, key, **kwargs))

    assert who("m1") == ["acme-only", "everything"]
    assert who("m2", brand="globex", network="mastodon") == ["everything", "mastodon-only"]
    assert who("i1", rule="incidents", kind="incident") == ["acme-only", "everything", "incident-desk"]
    # A brand-wide spike (no network) reaches a network-filtered subscriber too: it concerns every network.
    assert who("s1", rule="spikes", kind="volume_spike", network=None) == [
        "acme-only",
        "everything",
        "mastodon-only",
    ]
    # A mention that matched two rules is named after the first but reaches those who asked for either.
    assert "incident-desk" in who("m3", figures={"rules": ["urgent-mention", "incidents"]})


def test_incident_alerts_once_then_updates(sqlite_store: Store, make_mention: Any) -> None:
    settings = settings_with(subscriber("ops"))
    with sqlite_store.write() as session:
        stored = save_mentions(
            [make_mention("n1"), make_mention("n2", conversation="c2")], session=session
        ).stored
    threads = tuple(m.thread_id for m in stored if m.thread_id is not None)

    first = fire(sqlite_store, settings, "incident:1", rule="incidents", kind="incident", thread_ids=threads)
    with sqlite_store.write() as session:
        firing = session.exec(select(AlertFiring)).one()
        update_firing(firing, session=session, now=T0 + timedelta(minutes=30), reason="Now 9 customers")
        second = route_firing(firing, session=session, settings=settings, now=T0 + timedelta(minutes=30))
        # The same revision routed again (another process, a restart) adds nothing.
        assert route_firing(firing, session=session, settings=settings, now=T0 + timedelta(minutes=31)) == []

    assert [(e.kind, e.revision, e.status) for e in first + second] == [
        ("alert", 0, "pending"),
        ("update", 1, "pending"),
    ]
    alert, update = events(sqlite_store)
    assert alert.thread_id == update.thread_id == threads[0]
    assert alert.title == "Alert incident:1" and update.title.startswith("Update: ")
    assert "Now 9 customers" in update.body and f"earful tui --thread {threads[0]}" in update.body
    assert "json://" not in alert.body + update.body


def test_a_mention_alert_points_at_its_mention(sqlite_store: Store, make_mention: Any) -> None:
    settings = settings_with(subscriber("ops"))
    with sqlite_store.write() as session:
        (mention,) = save_mentions([make_mention("n1")], session=session).stored
    assert mention.thread_id is not None
    (event,) = fire(
        sqlite_store,
        settings,
        f"mention:{mention.id}",
        figures={"mention_id": mention.id},
        thread_ids=(mention.thread_id,),
    )
    assert (event.mention_id, event.thread_id, event.rule) == (
        mention.id,
        mention.thread_id,
        "urgent-mention",
    )


def test_over_the_hourly_cap_alerts_are_held_for_the_next_hour(sqlite_store: Store) -> None:
    settings = settings_with(subscriber("capped", max_per_hour=3), subscriber("uncapped", max_per_hour=0))
    start = datetime(2026, 11, 17, 9, 20, tzinfo=UTC)
    for n in range(5):
        fire(sqlite_store, settings, f"m{n}", now=start + timedelta(minutes=n))

    capped = [e for e in events(sqlite_store) if e.subscriber == "capped"]
    assert [e.status for e in capped] == ["pending"] * 3 + ["held"] * 2
    assert {e.due_at for e in capped if e.status == "held"} == {datetime(2026, 11, 17, 10, 0, tzinfo=UTC)}
    assert {e.status for e in events(sqlite_store) if e.subscriber == "uncapped"} == {"pending"}
    # The hour rolls: an hour after the first three, alerts go at once again.
    (later,) = [
        e
        for e in fire(sqlite_store, settings, "m5", now=start + timedelta(minutes=61))
        if e.subscriber == "capped"
    ]
    assert later.status == "pending"


def test_digest_and_quiet_subscribers_are_held_until_their_time(sqlite_store: Store) -> None:
    settings = settings_with(
        subscriber("hourly", mode="digest", timezone="Asia/Kolkata"),
        subscriber("daily", mode="digest", digest="daily", daily_at="08:00", timezone="America/New_York"),
        subscriber("sleeper", quiet_hours="22:00-07:00", timezone="Europe/Paris"),
    )
    at = datetime(2026, 11, 17, 22, 10, tzinfo=UTC)  # 03:40 in Kolkata, 17:10 in New York, 23:10 in Paris
    due = {e.subscriber: (e.status, e.due_at) for e in fire(sqlite_store, settings, "m1", now=at)}
    assert due == {
        "hourly": ("held", datetime(2026, 11, 17, 22, 30, tzinfo=UTC)),
        "daily": ("held", datetime(2026, 11, 18, 13, 0, tzinfo=UTC)),
        "sleeper": ("held", datetime(2026, 11, 18, 6, 0, tzinfo=UTC)),
    }
