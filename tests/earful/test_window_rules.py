"""The clock rules through `evaluate_windows` on a real SQLite store: a volume spike alerts once per episode, and an
incident (near-duplicate complaints from different customers, grouped by the shipped encoder) alerts once, then
updates as customers join."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from responders.alert_rules import IncidentRule, VolumeSpikeRule
from responders.alert_windows import evaluate_windows
from responders.alerts import AlertSettings
from responders.subscribers import Subscriber
from store.mentions import save_mentions
from store.models import AlertEvent, AlertFiring

NOW = datetime(2026, 11, 19, 14, 30, tzinfo=UTC)  # a Thursday afternoon
ONCALL = Subscriber(name="oncall", url="json://127.0.0.1:9/hook", max_per_hour=0)


def at(moment: datetime, make_mention, native: str, text: str, author: str, **kw):
    item = make_mention(native, text=text, conversation=f"c{native}", author=author, **kw)
    item.mention.created_at = moment
    return item


def store_all(store, items) -> None:
    for i in range(0, len(items), 500):
        with store.write() as session:
            save_mentions(items[i : i + 500], session=session)


def firings(store) -> list[AlertFiring]:
    with store.read() as session:
        return list(session.exec(select(AlertFiring).order_by(col(AlertFiring.id))).all())


def deliveries(store) -> list[tuple[str, int, str]]:
    with store.read() as session:
        return [
            (e.kind, e.revision, e.title)
            for e in session.exec(select(AlertEvent).order_by(col(AlertEvent.id)))
        ]


def test_a_volume_spike_alerts_once_per_episode_against_the_usual_thursday(sqlite_store, make_mention):
    # Four quiet weeks: 4 mentions every hour (a few more in the afternoon), positive ones.
    items = []
    start = NOW.replace(minute=0) - timedelta(weeks=4)
    hour = start
    while hour < NOW.replace(minute=0) - timedelta(hours=1):
        for k in range(4 + (hour.hour in (13, 14, 15))):
            moment = hour + timedelta(minutes=7 + 12 * k)
            items.append(
                at(
                    moment,
                    make_mention,
                    f"h{len(items)}",
                    "love it",
                    f"u{len(items) % 50}",
                    sentiment="positive",
                )
            )
        hour += timedelta(hours=1)
    # Then the last hour: 45 mentions, the most urgent a fire.
    for k in range(45):
        moment = NOW - timedelta(minutes=59) + timedelta(seconds=75 * k)
        text = "the charger caught fire!!" if k == 7 else "is the app down?"
        items.append(at(moment, make_mention, f"s{k}", text, f"s{k}", urgency=90 if k == 7 else 40))
    store_all(sqlite_store, items)
    settings = AlertSettings(rules=[VolumeSpikeRule(name="volume-spike")], subscribers=[ONCALL])

    report = evaluate_windows(sqlite_store, settings, now=NOW)

    assert report.errors == []
    (firing,) = firings(sqlite_store)
    assert firing.title == "Volume spike for acme: 45 mentions in 60 min"
    assert "45 mentions in the last hour" in firing.reason and "Thursdays" in firing.reason
    assert firing.figures["expected"] < 10 and firing.figures["z"] >= 4
    assert firing.examples[0]["text"] == "the charger caught fire!!"
    assert deliveries(sqlite_store) == [("alert", 0, firing.title)]
    # Five minutes later the spike goes on: the same episode, refreshed, not a second alert.
    items = [at(NOW + timedelta(minutes=m), make_mention, f"t{m}", "down again", f"t{m}") for m in range(5)]
    store_all(sqlite_store, items)
    evaluate_windows(sqlite_store, settings, now=NOW + timedelta(minutes=5))
    assert len(firings(sqlite_store)) == 1 and len(deliveries(sqlite_store)) == 1
    assert firings(sqlite_store)[0].figures["mentions"] == 50 - 4  # the window moved on by five minutes


COMPLAINTS = [
    "my order never arrived and nobody answers",
    "my order still hasn't arrived, no reply from support",
    "order never arrived, support is ignoring me",
    "never received my order and support won't answer",
    "where is my order? it never arrived and support does not reply",
    "my order hasn't arrived and nobody from support answers",
]


def test_an_incident_alerts_once_then_updates_as_customers_join(sqlite_store, make_mention, classifier):
    settings = AlertSettings(
        rules=[IncidentRule(name="incident", min_customers=3, update_minutes=15)], subscribers=[ONCALL]
    )
    other = [
        at(
            NOW - timedelta(minutes=40),
            make_mention,
            "x1",
            "your new logo is ugly",
            "z1",
            sentiment="negative",
        ),
        at(NOW - timedelta(minutes=35), make_mention, "x2", "the app crashes when I log in", "z2"),
    ]
    first = [
        at(NOW - timedelta(minutes=30 - 5 * i), make_mention, f"o{i}", COMPLAINTS[i], f"c{i}")
        for i in range(3)
    ]
    # One customer complaining five times is not an incident.
    same = [
        at(NOW - timedelta(minutes=50 - i), make_mention, f"r{i}", COMPLAINTS[3], "repeat") for i in range(5)
    ]
    store_all(sqlite_store, other + first + same)

    def evaluate(moment: datetime):
        return evaluate_windows(sqlite_store, settings, now=moment, embed=classifier.embed)

    report = evaluate(NOW)
    assert report.errors == [] and len(report.fired) == 1
    (firing,) = firings(sqlite_store)
    assert firing.figures["customers"] == 4  # the three, and the repeat customer counted once
    assert firing.title.startswith("Possible incident: 4 customers report")
    assert "4 different customers posted near-identical complaints" in firing.reason
    assert {"x1", "x2"}.isdisjoint({e["handle"] for e in firing.examples})
    # A fifth customer two minutes later: recorded, but too soon for an update.
    store_all(sqlite_store, [at(NOW + timedelta(minutes=1), make_mention, "o4", COMPLAINTS[4], "c4")])
    assert evaluate(NOW + timedelta(minutes=2)).updated == []
    assert len(firings(sqlite_store)) == 1 and firings(sqlite_store)[0].revision == 0
    # A sixth after the update interval: one update, naming the new size.
    store_all(sqlite_store, [at(NOW + timedelta(minutes=16), make_mention, "o5", COMPLAINTS[5], "c5")])
    report = evaluate(NOW + timedelta(minutes=17))
    assert len(report.updated) == 1 and report.fired == []
    (firing,) = firings(sqlite_store)
    assert firing.revision == 1 and firing.title.startswith("Incident growing: 6 customers report")
    assert [(kind, revision) for kind, revision, _ in deliveries(sqlite_store)] == [
        ("alert", 0),
        ("update", 1),
    ]
