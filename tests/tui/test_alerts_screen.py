"""`!` on the desk: the alerts that fired lately, why, where each went, and enter opens the thread."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from responders.alert_rules import TierRule
from responders.alerts import AlertSettings, queue_alerts
from responders.subscribers import Subscriber
from store.models import AlertEvent, Mention
from tui.alerts import AlertsScreen
from tui.thread import ThreadScreen

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def fire_alerts(world) -> None:
    settings = AlertSettings(
        rules=[TierRule(name="urgent-mention", min_tier="critical")],
        subscribers=[
            Subscriber(name="oncall", url="json://127.0.0.1:9/hook"),
            Subscriber(name="pr-lead", url="json://127.0.0.1:9/pr", mode="digest"),
        ],
    )
    with world.store.write() as session:
        mentions = list(session.exec(select(Mention)).all())
        queue_alerts(mentions, session=session, settings=settings, now=NOW)
        for event in session.exec(select(AlertEvent).where(AlertEvent.subscriber == "oncall")):
            event.status, event.delivered_at, event.attempts = "delivered", NOW, 1
            session.add(event)


async def test_recent_alerts_show_why_and_deliveries_and_open_the_thread(world):
    world.store_tweet(
        "fire",
        "[bold]My charger caught fire[/bold] and support ignores me",
        author="dana",
        display="Dana",
        urgency=97,
        tier="critical",
    )
    world.store_tweet("thanks", "thanks, all sorted", author="eli", display="Eli", urgency=10, tier="low")
    fire_alerts(world)
    app = world.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("exclamation_mark")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        assert len(screen.rows) == 1
        row = screen.rows[0]
        assert row.title == "Critical complaint about acme on X from @dana"
        assert [(d.subscriber, d.status) for d in row.deliveries] == [
            ("oncall", "delivered"),
            ("pr-lead", "held"),
        ]
        detail = str(screen.query_one("#firing-detail").render())
        # The customer's words are shown as typed, never as markup.
        assert "urgency 97 (critical)" in detail
        assert "[bold]My charger caught fire[/bold] and support ignores me" in detail
        assert "oncall: delivered 09:30" in detail and "pr-lead: held for the digest" in detail
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ThreadScreen)
        assert app.screen.thread_id == row.thread_ids[0]
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, AlertsScreen)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, AlertsScreen)


async def test_no_alert_yet_says_where_the_rules_are(world):
    app = world.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("exclamation_mark")
        await pilot.pause(0.3)
        title = str(app.screen.query_one("#alerts-title").render())
        assert "No alert has fired yet" in title and "earful alerts rules" in title
