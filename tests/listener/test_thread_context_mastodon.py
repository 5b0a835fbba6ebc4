"""Mastodon: a thread starts where the conversation did. The customer's first status carries no #delta, the
brand answers it with the tag, the customer replies naming @Delta: the hashtag stream carries the last two,
and the collector takes the first from `/api/v1/statuses/:id/context` (real Mastodon.py against the sandbox)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from context_testkit import Desk, assert_cursor_rule, later, messages, stored_once, thread_of, wait_stored
from mastodon_testkit import DELTA, FAST, mastodon_server  # noqa: F401
from x_testkit import StoreSink, wait_for

from listener.mastodon import build_sources
from listener.mastodon_context import Chains
from listener.mastodon_source import MastodonSource
from listener.sandbox.mastodon import MastodonSandboxThread, sandbox_settings

TAG = "mastodon:tag:delta"
# The token's account is not the brand's: the brand's statuses reach the desk by its hashtag stream alone.
OTHER = "SpotifyCares"


@pytest.fixture
def desk(store_sink: StoreSink) -> Iterator[Callable[..., Desk]]:
    started: list[Desk] = []

    def start(server: MastodonSandboxThread, *, chains: int | None = None) -> Desk:
        sources = build_sources(sandbox_settings(server.base_url, read_timeout=1.0), [DELTA])
        for source in sources:
            source.policy = FAST
            if chains is not None and isinstance(source, MastodonSource):
                source.chains = Chains(chains)
        running = Desk(sources, store_sink)
        started.append(running)
        # Every source caught up: from here on, the only REST calls are the conversation's.
        names = [runner.source for runner in running.supervisor.runners]
        wait_for(lambda: all("streaming" in running.states(n) for n in names), what="every stream live")
        return running

    yield start
    for running in started:
        running.stop()


def _contexts(server: MastodonSandboxThread) -> list[dict[str, Any]]:
    return [r for r in server.sandbox.requests if str(r["path"]).endswith("/context")]


def test_the_thread_starts_with_the_customers_first_status(
    mastodon_server: Callable[..., MastodonSandboxThread],  # noqa: F811
    desk: Callable[..., Desk],
    store_sink: StoreSink,
) -> None:
    server = mastodon_server(replay=False, account=OTHER)
    desk(server)
    m = server.sandbox
    first = m.push("my flight was cancelled and nobody tells me why", author="jane")
    later()
    answer = m.push(
        "So sorry, Jane! Send us your confirmation number. #delta", author="Delta", in_reply_to=first.id
    )
    later()
    again = m.push("@Delta sent it an hour ago, still nothing #delta", author="jane", in_reply_to=answer.id)

    wait_stored(store_sink, [first.id, answer.id, again.id])
    thread = messages(store_sink, first.id)
    assert [(t.native_id, t.is_own) for t in thread] == [
        (first.id, False),
        (answer.id, True),
        (again.id, False),
    ]
    assert thread[0].text == "my flight was cancelled and nobody tells me why"
    stored_once(store_sink)
    # The /context call that found the conversation's root gave its ancestors too: no other was needed (the
    # account's own stream and the hashtag stream may each look the answer's root up).
    assert {r["path"] for r in _contexts(server)} == {f"/api/v1/statuses/{answer.id}/context"}
    assert_cursor_rule(store_sink, {first.id})
    row = thread_of(store_sink, first.id)
    assert (row.status, row.first_response_at, row.awaiting_since) == (
        "open",
        answer.created_at,
        again.created_at,
    )


def test_a_deleted_status_leaves_the_mention_stored_and_says_so_once(
    mastodon_server: Callable[..., MastodonSandboxThread],  # noqa: F811
    desk: Callable[..., Desk],
    store_sink: StoreSink,
) -> None:
    server = mastodon_server(replay=False, account=OTHER)
    m = server.sandbox
    first = m.push("my flight was cancelled", author="jane")
    later()
    answer = m.push("So sorry! Which flight? #delta", author="Delta", in_reply_to=first.id)
    later()
    again = m.push("@Delta DL 1234 #delta", author="jane", in_reply_to=answer.id)
    m.delete(first.id)
    running = desk(server)  # its first backfill reads the two tagged statuses

    wait_stored(store_sink, [answer.id, again.id])
    wait_for(lambda: running.notes(first.id), what="a health note about the deleted status")
    notes = running.notes(first.id)
    assert len(notes) == 1 and "deleted" in notes[0].detail
    assert first.id not in store_sink.native_ids(context=True)
    assert [t.native_id for t in messages(store_sink, first.id)] == [answer.id, again.id]


def test_a_context_lookup_waits_for_the_rate_limit_and_the_stream_goes_on(
    mastodon_server: Callable[..., MastodonSandboxThread],  # noqa: F811
    desk: Callable[..., Desk],
    store_sink: StoreSink,
) -> None:
    server = mastodon_server(replay=False, account=OTHER)
    # No kept /context answers: each walk asks the server itself (as when a root was known without asking).
    running = desk(server, chains=0)
    m = server.sandbox
    # One REST call left, for the root lookup of the brand's answer; the walk's own call then gets a 429.
    m.set_rate_limit(1, reset_in=2.0)
    first = m.push("my flight was cancelled", author="jane")
    later()
    answer = m.push("So sorry! Which flight? #delta", author="Delta", in_reply_to=first.id)
    wait_for(lambda: running.notes("rate limit"), what="the wait for Mastodon's budget")

    other = m.push("@Delta my bag never showed up #delta", author="sam")
    wait_stored(store_sink, [answer.id, other.id])
    assert first.id not in store_sink.native_ids(context=True)

    wait_stored(store_sink, [first.id])
    statuses = [r["status"] for r in _contexts(server)]
    # The root lookup, the walk's refused call, and its one retry after the reset (the account's own stream
    # may look the answer up too, and be refused as well: that is its session's wait, not the walk's).
    assert 429 in statuses and statuses[-1] == 200 and statuses.count(200) == 2, statuses
    assert "rate-limited" not in running.states(TAG)
    assert [t.native_id for t in messages(store_sink, first.id)] == [first.id, answer.id]
