"""Silence is judged per network: a running pipeline with Bluesky's Jetstream streaming (its search source
standing by, idle by design) raises no silence alert however long the search stays idle, while a network none of
whose sources delivers and whose stream is not live (Mastodon, its server gone) still does. The real collectors
against the Bluesky sandbox on 127.0.0.1, a port nothing listens on for Mastodon, the shipped classifier, a real
SQLite file and a real webhook receiver."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from alert_kit import Receiver, closed_port
from pydantic import SecretStr

from earful.app import PipelineThread
from earful.pipeline import Pipeline
from earful.settings import DatabaseSettings, Settings
from listener.bluesky import JETSTREAM_SOURCE
from listener.bluesky_search import cursor_key
from listener.config import BrandSettings, XSettings
from listener.sandbox.bluesky import BlueskySandboxThread
from listener.sandbox.bluesky import sandbox_settings as bluesky_settings
from listener.sandbox.mastodon import sandbox_settings as mastodon_settings
from responders.alert_history import history
from responders.alert_rules import SilentRule
from responders.alerts import AlertSettings
from responders.delivery import deliver_pending
from responders.silence import silent_networks
from responders.subscribers import Subscriber
from store import Store
from store.clock import utcnow
from store.health import HealthRow

SEARCH = cursor_key("delta")
# The silence limit, short so the test waits it out for real.
LIMIT = timedelta(seconds=4)


def wait_for(condition: Callable[[], object], limit: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_search_standing_by_beside_a_live_jetstream_is_not_silent_but_a_dead_network_is(
    tmp_path, receiver: Receiver, classifier
) -> None:
    sky = BlueskySandboxThread(keepalive=0.2, brands=["delta"], pace=5.0)
    sky.start()
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{tmp_path}/e.db"),
        x=XSettings(enabled=False),
        bluesky=bluesky_settings(
            sky.base_url, sky.jetstream_url, read_timeout=1.0, poll_seconds=0.3, standby_seconds=3600.0
        ),
        mastodon=mastodon_settings(f"http://127.0.0.1:{closed_port()}", hashtags=["delta"]),
        brands=[
            BrandSettings(
                name="delta",
                networks=["bluesky", "mastodon"],
                accounts={"bluesky": ["delta.bsky.social"], "mastodon": ["Delta"]},
            )
        ],
        alerts=AlertSettings(
            rules=[SilentRule(name="silent", minutes=LIMIT.total_seconds() / 60)],
            subscribers=[Subscriber(name="oncall", url=SecretStr(receiver.url), max_per_hour=0)],
        ),
    )
    store = Store(settings.database.url)
    store.migrate()
    pipeline = Pipeline(settings, store, classifier_factory=lambda: classifier)
    runner = PipelineThread(pipeline).start()

    def state(source: str) -> str:
        event = pipeline.health.get(source)
        return str(event.state) if event is not None else ""

    try:
        assert pipeline.ready.wait(60)
        wait_for(
            lambda: (
                state(JETSTREAM_SOURCE) == "streaming"
                and state(SEARCH) in ("standby", "streaming")  # (standing by was called "streaming")
                and any(
                    str(e.state) == "retrying"
                    for e in list(pipeline.health.values())
                    if e.network == "mastodon"
                )
                and pipeline.stats.stored > 0
            ),
            what="Jetstream streaming posts, the search standing by, Mastodon's server unreachable",
        )
        # Past the limit: the search has stood by all along, and Mastodon never answered.
        wait_for(
            lambda: utcnow() - pipeline.watch.started_at > LIMIT + timedelta(seconds=1), what="the limit"
        )
        searching = state(SEARCH)
        pipeline.watch.check_silence()
        deliver_pending(store, pipeline.alert_settings)
        titles = list(receiver.titles)
    finally:
        runner.stop()
        sky.stop()

    assert [title.split(" silent for ")[0] for title in titles] == ["earful: Mastodon"]
    assert searching == "standby"
    (row,) = history(store)
    assert "no stream of it is live" in row.reason and "retrying" in row.reason
    assert "Bluesky" not in row.reason
    store.dispose()


def test_a_network_is_silent_only_when_none_of_its_sources_delivered_and_no_stream_of_it_is_live() -> None:
    settings = AlertSettings(rules=[SilentRule(name="silent", minutes=10)])
    now = utcnow()
    started, recent = now - timedelta(hours=1), now - timedelta(minutes=2)
    rows = [
        # Bluesky: the stream is live, with no post for an hour; its search stands by.
        HealthRow("bluesky:jetstream", "bluesky", "streaming"),
        HealthRow("bluesky:search:acme", "bluesky", "standby"),
        # Reddit polls and one of its sources delivered lately: the network is covered.
        HealthRow("reddit:comments:a", "reddit", "polling"),
        HealthRow("reddit:comments:b", "reddit", "polling", last_event_at=recent),
        # X: the stream is down and nothing came since the start.
        HealthRow("x:stream", "x", "retrying", "connection refused"),
        HealthRow("x:search", "x", "rate-limited"),
        # Mastodon was turned off.
        HealthRow("mastodon:tag:acme", "mastodon", "disabled"),
    ]

    silent = silent_networks(rows, since=started, settings=settings, now=now)

    assert [(s.network, s.quiet_since) for s in silent] == [("x", started)]
    assert silent[0].states() == "x:search rate-limited; x:stream retrying (connection refused)"
