"""Per-mention alerts end to end: stored mention -> firing -> delivery to a real HTTP receiver on 127.0.0.1,
through apprise's json:// plugin."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alert_kit import Receiver, closed_port
from pydantic import SecretStr, ValidationError
from sqlmodel import col, select

from responders import firing as firing_module
from responders.alert_text import alert_message
from responders.alerts import AlertSettings, queue_alerts
from responders.delivery import deliver_pending
from responders.firing import example
from responders.subscribers import Subscriber
from store import Store
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions
from store.models import AlertEvent, AlertFiring, Identity, Mention

T0 = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
CRITICAL_TEXT = "My card was charged 3 times and support won't answer!! <b>fix it</b>"


@pytest.fixture
def alert_store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/t.db")
    s.migrate()
    yield s
    s.dispose()


def scored(
    native_id: str,
    text: str,
    *,
    tier: str,
    urgency: int,
    handle: str = "jane",
    followers: int = 12400,
    is_own: bool = False,
) -> ScoredMention:
    return ScoredMention(
        mention=NewMention(
            network="x",
            native_id=native_id,
            conversation_id=f"conv-{native_id}",
            text=text,
            created_at=T0 - timedelta(minutes=5),
            author=Author(
                native_user_id=f"u-{handle}", handle=handle, display_name=handle.title(), followers=followers
            ),
            brand="Acme",
            is_own=is_own,
        ),
        scores=Scores(sentiment="negative", complaint=0.93, urgency=urgency, urgency_tier=tier),
    )


def store_mentions(store: Store, items: list[ScoredMention], settings: AlertSettings) -> list[AlertEvent]:
    """What the pipeline does: save and queue in one transaction."""
    with store.write() as session:
        result = save_mentions(items, session=session)
        return queue_alerts(result.stored, session=session, settings=settings, now=T0)


def events(store: Store) -> list[AlertEvent]:
    with store.read() as session:
        return list(session.exec(select(AlertEvent).order_by(col(AlertEvent.id))).all())


def settings_for(*subscribers: tuple[str, str], **kwargs: object) -> AlertSettings:
    return AlertSettings(
        subscribers=[Subscriber(name=name, url=SecretStr(url)) for name, url in subscribers],
        **kwargs,  # type: ignore[arg-type]
    )


def test_critical_mention_reaches_subscriber_once(alert_store: Store, receiver: Receiver) -> None:
    settings = settings_for(("ops-hook", f"json://127.0.0.1:{receiver.port}/hook"))
    batch = [
        scored("1", CRITICAL_TEXT, tier="critical", urgency=95),
        scored("2", "love the new app, thanks", tier="normal", urgency=20, handle="bob"),
    ]
    queued = store_mentions(alert_store, batch, settings)
    assert [e.subscriber for e in queued] == ["ops-hook"]

    report = deliver_pending(alert_store, settings, now=T0)

    assert (report.delivered, report.failed, report.waiting) == (1, 0, 0)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/hook"
    assert "json" in str(request["content_type"])
    payload = request["json"]
    assert isinstance(payload, dict)
    assert CRITICAL_TEXT in payload["message"]
    assert payload["title"] == "Critical complaint about Acme on X from @jane"
    assert "(12,400 followers): urgency 95 (critical)." in payload["message"]
    assert "earful tui --thread" in payload["message"]
    (event,) = events(alert_store)
    assert (event.status, event.attempts, event.error, event.delivered_at) == ("delivered", 1, None, T0)

    # The same events replayed: stored once already, so nothing new is queued or sent.
    assert store_mentions(alert_store, batch, settings) == []
    with alert_store.write() as session:
        again = list(session.exec(select(Mention)).all())
        assert queue_alerts(again, session=session, settings=settings, now=T0) == []
    assert deliver_pending(alert_store, settings, now=T0 + timedelta(hours=1)).delivered == 0
    assert len(receiver.requests) == 1
    assert len(events(alert_store)) == 1


def test_down_subscriber_retries_later_without_blocking_others(
    alert_store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    down_port = closed_port()
    secret = "hunter2secret"
    settings = settings_for(
        ("pager", f"json://alice:{secret}@127.0.0.1:{down_port}/hook"),
        ("ops-hook", f"json://127.0.0.1:{receiver.port}/hook"),
    )
    store_mentions(alert_store, [scored("1", CRITICAL_TEXT, tier="critical", urgency=95)], settings)
    caplog.set_level(logging.DEBUG)

    first = deliver_pending(alert_store, settings, now=T0)

    assert (first.delivered, first.failed, first.waiting) == (1, 1, 0)
    assert first.next_attempt_at == T0 + timedelta(seconds=30)
    assert len(receiver.requests) == 1
    pager = next(e for e in events(alert_store) if e.subscriber == "pager")
    assert (pager.status, pager.attempts) == ("pending", 1)
    assert pager.error and "attempt 1" in pager.error and "connection" in pager.error.lower()
    assert secret not in pager.error and str(down_port) not in pager.error
    assert secret not in caplog.text and "pager" in caplog.text

    # Not due yet: nobody is called.
    early = deliver_pending(alert_store, settings, now=T0 + timedelta(seconds=10))
    assert (early.delivered, early.failed, early.waiting) == (0, 0, 1)

    pager_receiver = Receiver(down_port)
    try:
        later = deliver_pending(alert_store, settings, now=T0 + timedelta(seconds=31))
        assert (later.delivered, later.failed, later.waiting) == (1, 0, 0)
        assert len(pager_receiver.requests) == 1
        assert CRITICAL_TEXT in str(pager_receiver.requests[0]["json"])
        assert deliver_pending(alert_store, settings, now=T0 + timedelta(days=1)).delivered == 0
        assert len(pager_receiver.requests) == 1
    finally:
        pager_receiver.close()
    assert len(receiver.requests) == 1
    assert {e.status for e in events(alert_store)} == {"delivered"}


def test_silent_subscriber_times_out_and_invalid_url_fails_cleanly(
    alert_store: Store, receiver: Receiver
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings = settings_for(
            ("silent", f"json://127.0.0.1:{silent.getsockname()[1]}/hook"),
            ("typo", "nosuchscheme://token-abcdef"),
            ("ops-hook", f"json://127.0.0.1:{receiver.port}/hook"),
            send_timeout_seconds=0.3,
        )
        store_mentions(alert_store, [scored("1", CRITICAL_TEXT, tier="critical", urgency=95)], settings)
        started = time.monotonic()
        report = deliver_pending(alert_store, settings, now=T0)
        assert time.monotonic() - started < 5

    assert (report.delivered, report.failed) == (1, 2)
    assert len(receiver.requests) == 1
    errors = {e.subscriber: e.error or "" for e in events(alert_store) if e.status == "pending"}
    assert "did not answer within 0.3s" in errors["silent"]
    assert "not a valid apprise URL" in errors["typo"] and "abcdef" not in errors["typo"]


def test_backoff_doubles_and_gives_up_only_after_max_attempts_and_the_give_up_age(alert_store: Store) -> None:
    settings = settings_for(
        ("pager", f"json://127.0.0.1:{closed_port()}/hook"), max_attempts=3, give_up_after_hours=1
    )
    store_mentions(alert_store, [scored("1", "down again", tier="critical", urgency=99)], settings)

    assert deliver_pending(alert_store, settings, now=T0).failed == 1
    second = deliver_pending(alert_store, settings, now=T0 + timedelta(seconds=30))
    assert second.failed == 1 and second.next_attempt_at == T0 + timedelta(seconds=90)
    assert deliver_pending(alert_store, settings, now=T0 + timedelta(seconds=89)).waiting == 1
    third = deliver_pending(alert_store, settings, now=T0 + timedelta(seconds=90))
    # Three attempts, but only 90 s old: a target down for less than the give-up age still gets it later.
    assert (third.failed, third.gave_up) == (1, 0)
    late = deliver_pending(alert_store, settings, now=T0 + timedelta(hours=1, seconds=1))
    assert (late.failed, late.gave_up, late.waiting) == (1, 1, 0)
    (event,) = events(alert_store)
    assert (event.status, event.attempts) == ("failed", 4)
    assert deliver_pending(alert_store, settings, now=T0 + timedelta(days=1)).failed == 0


def test_rule_skips_own_posts_and_lower_tiers(alert_store: Store) -> None:
    settings = settings_for(("a", "json://127.0.0.1:9/x"), ("b", "json://127.0.0.1:9/y"), min_tier="high")
    queued = store_mentions(
        alert_store,
        [
            scored("1", "critical", tier="critical", urgency=95),
            scored("2", "high", tier="high", urgency=70, handle="bob"),
            scored("3", "normal", tier="normal", urgency=30, handle="carl"),
            scored("4", "our own reply", tier="critical", urgency=99, handle="acme", is_own=True),
        ],
        settings,
    )
    assert sorted((e.title.split(" ")[0], e.subscriber) for e in queued) == [
        ("Critical", "a"),
        ("Critical", "b"),
        ("High", "a"),
        ("High", "b"),
    ]
    assert all("json://" not in e.title + e.body for e in events(alert_store))


def test_insert_race_is_tolerated(alert_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(("a", "json://127.0.0.1:9/x"))
    store_mentions(alert_store, [scored("1", "critical", tier="critical", urgency=95)], settings)
    # Another writer's firing arrives between our look and our insert: the look sees nothing, the insert fails.
    monkeypatch.setattr(firing_module, "find_firing", lambda rule, key, *, session: None)
    with alert_store.write() as session:
        mentions = list(session.exec(select(Mention)).all())
        assert queue_alerts(mentions, session=session, settings=settings, now=T0) == []
        assert len(session.exec(select(AlertEvent)).all()) == 1  # the session is still usable
    assert len(events(alert_store)) == 1


def test_alert_text_is_plain_even_when_the_handle_and_text_carry_escapes() -> None:
    mention = Mention(
        id=7,
        network="mastodon",
        native_id="n1",
        thread_id=42,
        identity_id=3,
        text="\x1b[31mrefund\x1b[0m now\x07\r\nplease [bold]x[/bold]",
        created_at=T0,
        urgency=91,
        urgency_tier="critical",
        complaint=0.2,
    )
    identity = Identity(
        id=3, network="mastodon", native_user_id="9", handle="jane\x1b]0;pwn\x07", followers=5
    )
    firing = AlertFiring(
        rule="critical",
        kind="tier",
        key="mention:7",
        title="Critical mention on Mastodon from @jane\x1b]0;pwn\x07",
        reason="Critical mention on Mastodon from @jane\x1b]0;pwn\x07 (5 followers): urgency 91.",
        examples=[example(mention, identity)],
        thread_ids=[42],
    )

    title, body = alert_message(firing)

    assert title == "Critical mention on Mastodon from @jane]0;pwn"
    assert (
        "- @jane]0;pwn on Mastodon, 2026-11-17 09:00 UTC (thread 42): [31mrefund[0m now please [bold]x[/bold]"
        in body
    )
    assert not any(ch in title + body for ch in "\x1b\x07\r")
    assert "earful tui --thread 42" in body


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="min_tier"):
        AlertSettings(min_tier="panic")
    with pytest.raises(ValidationError, match="unique"):
        settings_for(("a", "json://h/x"), ("a", "json://h/y"))
    assert "hunter2" not in repr(settings_for(("a", "json://u:hunter2@h/x")))
