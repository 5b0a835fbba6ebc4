"""Alerts as each kind of receiver gets them: a stable id to deduplicate on, time to answer, and a stranger's
mention text that stays text on Discord and Mattermost. Every receiver is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alert_kit import Receiver, fire
from pydantic import SecretStr

from responders.alert_targets import neutralise
from responders.alerts import AlertSettings
from responders.delivery import deliver_pending
from responders.subscribers import Subscriber
from store import Store

pytestmark = pytest.mark.timeout(60)

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
HOSTILE = (
    "@everyone @here @channel @all refund NOW <@123456789> <@&987654321> <#55555> "
    "[track your parcel](https://evil.example/login) & <b>bold</b> *loud* `code` ||spoiler||"
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/alerts.db")
    s.migrate()
    yield s
    s.dispose()


def settings(url: str, **kwargs: object) -> AlertSettings:
    return AlertSettings(subscribers=[Subscriber(name="ops", url=SecretStr(url))], **kwargs)  # type: ignore[arg-type]


def fire_hostile(store: Store, alert_settings: AlertSettings, key: str = "m1") -> None:
    example = {"handle": "mallory", "network": "x", "text": HOSTILE}
    fire(store, alert_settings, key, T0, examples=[example])


def test_a_slow_receiver_gets_each_alert_once_and_a_timed_out_one_again_with_the_same_id(store):
    # The first delivery takes longer than the send timeout: earful stops waiting, the receiver keeps it.
    slow = Receiver(delay=lambda n: 1.5 if n == 0 else 0.0)
    try:
        alert_settings = settings(slow.url, send_timeout_seconds=1.0, retry_base_seconds=30)
        fire(store, alert_settings, "first", T0)
        fire(store, alert_settings, "second", T0)

        first = deliver_pending(store, alert_settings, now=T0)
        assert (first.delivered, first.failed) == (0, 1)
        # Not retried at once: the receiver is given the backoff to have answered.
        assert deliver_pending(store, alert_settings, now=T0 + timedelta(seconds=5)).delivered == 0
        for _ in range(100):
            if slow.requests:
                break
            time.sleep(0.05)
        later = deliver_pending(store, alert_settings, now=T0 + timedelta(seconds=31))
        assert later.delivered == 2
    finally:
        slow.close()

    titles = [r["json"]["title"] for r in slow.requests]
    assert sorted(titles) == [
        "Critical complaint first",
        "Critical complaint first",
        "Critical complaint second",
    ]
    ids: dict[str, set[str]] = {}
    for request in slow.requests:
        said = request["json"]["alert_id"]
        assert request["headers"]["Idempotency-Key"] == said == request["headers"]["X-Earful-Alert-Id"]
        ids.setdefault(request["json"]["title"], set()).add(said)
    # The repeat carries the id of the delivery it repeats; the other alert has an id of its own.
    assert len(ids["Critical complaint first"]) == 1
    assert ids["Critical complaint first"] != ids["Critical complaint second"]
    assert all(said.startswith("earful-") for said in ids["Critical complaint second"])


def test_a_receiver_slower_than_apprises_default_read_timeout_is_waited_for(store):
    """apprise gives up reading after 4 s by default; a receiver answering in 4.5 s got the alert, was counted
    as failed and got it again. Within the send timeout it is simply delivered, once."""
    slow = Receiver(delay=lambda _n: 4.5)
    try:
        alert_settings = settings(slow.url, send_timeout_seconds=10)
        fire(store, alert_settings, "slow", T0)
        report = deliver_pending(store, alert_settings, now=T0)
    finally:
        slow.close()
    assert (report.delivered, report.failed) == (1, 0)
    assert len(slow.requests) == 1


LIVE_DISCORD = [
    re.compile(r"@(everyone|here)\b"),  # pings a whole server
    re.compile(r"(?<!\\)<[@#]"),  # <@user>, <@&role>, <#channel>
    re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\("),  # a masked link: the text hides where it leads
    re.compile(r"(?<!\\)\*loud(?<!\\)\*"),
    re.compile(r"(?<!\\)\|\|"),
]


def test_discord_gets_no_pings_and_no_markup_from_mention_text(store, receiver):
    webhook = f"http://127.0.0.1:{receiver.port}/api/webhooks/112233/tok-en_1"
    alert_settings = settings(webhook)
    fire_hostile(store, alert_settings)
    assert deliver_pending(store, alert_settings, now=T0).delivered == 1

    [request] = receiver.requests
    assert request["path"].startswith("/api/webhooks/112233/tok-en_1")
    payload = request["json"]
    assert payload["allowed_mentions"] == {"parse": []}
    content = payload["content"]
    for live in LIVE_DISCORD:
        assert not live.search(content), (live.pattern, content)
    # Still readable, and the link's real address is in plain sight.
    assert "https://evil.example/login" in content and "refund NOW" in content
    assert "Critical complaint m1" in content
    assert request["headers"]["X-Earful-Alert-Id"].startswith("earful-")


LIVE_MATTERMOST = [
    re.compile(r"@(channel|here|all|everyone|mallory)\b"),  # notifies a channel, or a user of that name
    re.compile(r"[<>]"),  # <!channel>, <url|text> and HTML
    re.compile(r"&(?!amp;|lt;|gt;)"),
    re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\("),
    re.compile(r"(?<!\\)\*loud(?<!\\)\*"),
]


def test_mattermost_gets_no_mentions_and_no_markup_from_mention_text(store, receiver):
    alert_settings = settings(f"mmost://127.0.0.1:{receiver.port}/hooktoken")
    fire_hostile(store, alert_settings)
    assert deliver_pending(store, alert_settings, now=T0).delivered == 1

    [request] = receiver.requests
    assert request["path"] == "/hooks/hooktoken"
    text = request["json"]["text"]
    for live in LIVE_MATTERMOST:
        assert not live.search(text), (live.pattern, text)
    assert "https://evil.example/login" in text and "refund NOW" in text


def test_plain_targets_get_the_text_as_written(store, receiver):
    """A generic webhook or e-mail shows text as text: nothing to escape, nothing changed."""
    alert_settings = settings(receiver.url)
    fire_hostile(store, alert_settings)
    assert deliver_pending(store, alert_settings, now=T0).delivered == 1
    assert HOSTILE in receiver.messages[0]["message"]
    assert neutralise("other", HOSTILE) == neutralise("webhook", HOSTILE) == HOSTILE
