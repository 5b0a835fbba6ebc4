"""What reaches a subscriber about one thread: one alert per episode (a customer's unanswered run), however many
rules trip on it, again only when it turns critical, and nothing once the brand has answered. Real SQLite store,
the real rules, SLA clock and deliverer, and a real webhook receiver on 127.0.0.1 counting what arrived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alert_kit import Receiver
from pydantic import SecretStr
from sqlmodel import col, select

from responders.alert_history import history, history_lines
from responders.alert_rules import SlaRule, TermsRule, TierRule
from responders.alert_windows import evaluate_windows
from responders.alerts import AlertSettings, queue_alerts
from responders.delivery import deliver_pending
from responders.subscribers import Subscriber
from store import Store
from store.incoming import ScoredMention
from store.mentions import save_mentions
from store.models import AlertEvent, AlertFiring

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # make_mention's clock
SLA = {"critical": timedelta(minutes=15), "high": timedelta(minutes=15), "normal": timedelta(hours=4)}


def settings_for(receiver: Receiver, **subscriber: object) -> AlertSettings:
    hook = Subscriber(
        name="oncall",
        url=SecretStr(f"json://127.0.0.1:{receiver.port}/hook"),
        max_per_hour=0,
        **subscriber,  # type: ignore[arg-type]
    )
    return AlertSettings(
        rules=[
            TierRule(name="urgent", min_tier="high"),
            TermsRule(name="legal", query="lawyer OR lawsuit"),
            SlaRule(name="sla", before_minutes=5, min_tier="high"),
        ],
        subscribers=[hook],
    )


def ingest(store: Store, settings: AlertSettings, at: datetime, *items: ScoredMention) -> None:
    """One ingest batch as the pipeline writes it (mentions and their alerts in one transaction), then the
    deliverer's run that follows every batch."""
    with store.write() as session:
        stored = save_mentions(list(items), session=session, sla=SLA).stored
        queue_alerts(stored, session=session, settings=settings, now=at)
    deliver_pending(store, settings, now=at)


def tick(store: Store, settings: AlertSettings, at: datetime) -> None:
    """A turn of the alert clock: the window rules, then delivery."""
    assert evaluate_windows(store, settings, now=at).errors == []
    deliver_pending(store, settings, now=at)


def test_a_thread_hit_by_several_rules_alerts_once_per_episode_and_again_only_when_it_turns_critical(
    any_store: Store, receiver: Receiver, make_mention
) -> None:
    settings = settings_for(receiver)

    def customer(native: str, text: str, minutes: float, tier: str = "high", urgency: int = 75):
        return make_mention(native, text=text, handle="jane", minutes=minutes, tier=tier, urgency=urgency)

    ingest(any_store, settings, T0, customer("1", "my refund never came, third time asking", 0))
    ingest(any_store, settings, T0 + timedelta(minutes=3), customer("2", "I am calling my lawyer", 3))
    tick(any_store, settings, T0 + timedelta(minutes=10))  # its SLA runs out in 5 minutes
    assert receiver.titles == ["High complaint about acme on X from @jane"], (
        "the terms rule and the SLA warning are about the thread the responder was just told of"
    )

    # Something new to act on: the thread turns critical. One update, to the same alert.
    ingest(
        any_store,
        settings,
        T0 + timedelta(minutes=12),
        customer("3", "you charged me twice now, fix it", 12, tier="critical", urgency=95),
    )
    tick(any_store, settings, T0 + timedelta(minutes=16))  # the SLA breach
    assert receiver.titles == [
        "High complaint about acme on X from @jane",
        "Update: Critical complaint about acme on X from @jane",
    ]
    with any_store.read() as session:
        firings = {f.rule: f for f in session.exec(select(AlertFiring))}
    assert sorted(firings) == ["legal", "sla", "urgent"], "each rule that tripped is in the history"
    assert firings["sla"].title.startswith("SLA breached")
    lines = "\n".join(history_lines(history(any_store)))
    urgent = firings["urgent"].id
    assert lines.count(f"oncall: folded into #{urgent} (already told of this thread)") == 2

    # The brand answers; the customer's next complaint is a new episode, and a new alert.
    ingest(
        any_store,
        settings,
        T0 + timedelta(minutes=20),
        make_mention("4", text="so sorry, refunded both", own=True, author="acme", minutes=20),
    )
    ingest(any_store, settings, T0 + timedelta(hours=2), customer("5", "the refund bounced back", 120))
    assert len(receiver.titles) == 3 and receiver.titles[-1] == "High complaint about acme on X from @jane"


def test_a_complaint_answered_in_its_own_batch_reaches_nobody_and_its_firing_says_why(
    any_store: Store, receiver: Receiver, make_mention
) -> None:
    settings = settings_for(receiver)
    complaint = make_mention("1", text="charged twice!!", handle="jane", tier="critical", urgency=95)
    answer = make_mention("2", text="refunded, sorry", own=True, author="acme", handle="acme", minutes=2)
    unanswered = make_mention(
        "3",
        text="still no refund",
        conversation="c2",
        author="bob",
        handle="bob",
        tier="critical",
        urgency=92,
    )

    ingest(any_store, settings, T0 + timedelta(minutes=3), complaint, answer, unanswered)

    assert receiver.titles == ["Critical complaint about acme on X from @bob"]
    with any_store.read() as session:
        (answered,) = session.exec(select(AlertFiring).where(col(AlertFiring.title).contains("@jane"))).all()
        assert session.exec(select(AlertEvent).where(AlertEvent.firing_id == answered.id)).all() == []
    assert answered.figures["answered"] == (
        "the brand answered on X at 2026-11-16 09:02 UTC, before the alert went out"
    )
    lines = history_lines(history(any_store))
    at = next(i for i, line in enumerate(lines) if "@jane" in line)
    assert (
        lines[at + 1]
        == "    not sent: the brand answered on X at 2026-11-16 09:02 UTC, before the alert went out"
    )


def test_an_alert_waiting_for_its_digest_is_dropped_when_the_brand_answers_first(
    any_store: Store, receiver: Receiver, make_mention
) -> None:
    settings = settings_for(receiver, mode="digest", digest="hourly")
    jane = make_mention("1", text="charged twice!!", handle="jane", tier="critical", urgency=95)
    bob = make_mention("2", text="no refund", conversation="c2", author="bob", tier="critical", urgency=92)
    ingest(any_store, settings, T0 + timedelta(minutes=1), jane, bob)
    assert receiver.titles == []  # held for the 10:00 digest

    answer = make_mention("3", text="refunded, sorry", own=True, author="acme", minutes=20)
    ingest(any_store, settings, T0 + timedelta(minutes=20), answer)
    deliver_pending(any_store, settings, now=T0 + timedelta(hours=1))

    assert receiver.titles == ["earful digest: 1 alert (1 critical mention)"]
    assert "@bob" in receiver.messages[0]["message"] and "@jane" not in receiver.messages[0]["message"]
    with any_store.read() as session:
        dropped = session.exec(select(AlertEvent).where(AlertEvent.status == "answered")).one()
    assert dropped.error == "the brand answered on X at 2026-11-16 09:20 UTC, before the alert went out"
    lines = "\n".join(history_lines(history(any_store)))
    assert "oncall: not sent, answered first (the brand answered on X at 2026-11-16 09:20 UTC" in lines
