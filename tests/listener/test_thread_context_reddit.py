"""Reddit: a thread starts where the conversation did. The customer's submission names nothing of the brand,
the brand's account answers it in a comment, the customer replies naming u/AcmeHelp: the comments listing
carries the last two, and the collector takes the submission from `/api/info` (real praw against the
sandbox)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from context_testkit import Desk, assert_cursor_rule, later, messages, stored_once, thread_of, wait_stored
from reddit_testkit import FAST, fast_settings, start_sandbox
from x_testkit import StoreSink, wait_for

from listener.config import BrandSettings
from listener.reddit import build_sources
from listener.sandbox.reddit import RedditSandboxThread

ACME = BrandSettings(name="acme", accounts={"reddit": ["AcmeHelp"]}, networks=["reddit"])


@pytest.fixture
def server() -> Iterator[RedditSandboxThread]:
    started = start_sandbox(brands=["AcmeHelp"])
    yield started
    started.stop()


@pytest.fixture
def desk(store_sink: StoreSink) -> Iterator[Callable[[RedditSandboxThread], Desk]]:
    started: list[Desk] = []

    def start(server: RedditSandboxThread) -> Desk:
        running = Desk(build_sources(fast_settings(server.base_url), [ACME], policy=FAST), store_sink)
        started.append(running)
        names = [runner.source for runner in running.supervisor.runners]
        wait_for(lambda: all("polling" in running.states(n) for n in names), what="every listing caught up")
        return running

    yield start
    for running in started:
        running.stop()


def _infos(server: RedditSandboxThread) -> list[dict[str, Any]]:
    return [r for r in server.sandbox.requests if str(r["path"]).rstrip("/") == "/api/info"]


def test_the_thread_starts_with_the_customers_submission(
    server: RedditSandboxThread, desk: Callable[[RedditSandboxThread], Desk], store_sink: StoreSink
) -> None:
    desk(server)
    reddit = server.sandbox
    first = reddit.push("Ordered two weeks ago, order 1234, nothing arrived.", title="My order never arrived")
    later()
    answer = reddit.push(
        "Sorry to hear that! Could you DM us the order number?", author="AcmeHelp", reply_to=first.fullname
    )
    later()
    again = reddit.push("u/AcmeHelp I did, still nothing", reply_to=answer.fullname)

    wait_stored(store_sink, [first.fullname, answer.fullname, again.fullname])
    thread = messages(store_sink, first.fullname)
    assert [(t.native_id, t.is_own) for t in thread] == [
        (first.fullname, False),
        (answer.fullname, True),
        (again.fullname, False),
    ]
    assert thread[0].text.startswith("My order never arrived")
    stored_once(store_sink)
    # One lookup, for the submission: the reply's parent was in the same listing.
    assert [r["query"]["id"] for r in _infos(server)] == [first.fullname]
    assert_cursor_rule(store_sink, {first.fullname})
    row = thread_of(store_sink, first.fullname)
    asked, answered, waiting = row.first_inbound_at, row.first_response_at, row.awaiting_since
    assert asked is not None and answered is not None and waiting is not None
    assert asked < answered < waiting
    assert row.status == "open"


def test_a_deleted_submission_leaves_the_mention_stored_and_says_so_once(
    server: RedditSandboxThread, desk: Callable[[RedditSandboxThread], Desk], store_sink: StoreSink
) -> None:
    running = desk(server)
    reddit = server.sandbox
    first = reddit.push("Nothing arrived", title="My order never arrived")
    reddit.delete(first.fullname)
    later()
    answer = reddit.push("Sorry! Which order?", author="AcmeHelp", reply_to=first.fullname)
    later()
    again = reddit.push("u/AcmeHelp order 1234", reply_to=answer.fullname)

    wait_stored(store_sink, [answer.fullname, again.fullname])
    wait_for(lambda: running.notes(first.fullname), what="a health note about the deleted submission")
    notes = running.notes(first.fullname)
    assert len(notes) == 1 and "deleted" in notes[0].detail
    assert first.fullname not in store_sink.native_ids(context=True)
    more = reddit.push("u/AcmeHelp hello?", reply_to=again.fullname)
    wait_stored(store_sink, [more.fullname])
    assert len(_infos(server)) == 1, "what is gone is not asked for again"
    assert len(running.notes(first.fullname)) == 1


def test_a_lookup_waits_for_the_budget_and_the_listings_go_on(
    server: RedditSandboxThread, desk: Callable[[RedditSandboxThread], Desk], store_sink: StoreSink
) -> None:
    running = desk(server)
    reddit = server.sandbox
    reddit.refuse_lookups(1, reset_in=2.0)
    first = reddit.push("Nothing arrived", title="My order never arrived")
    later()
    answer = reddit.push("Sorry! Which order?", author="AcmeHelp", reply_to=first.fullname)
    wait_for(lambda: running.notes("rate limit"), what="the wait for Reddit's budget")

    other = reddit.push("u/AcmeHelp my refund is late", title="u/AcmeHelp refund?")
    wait_stored(store_sink, [answer.fullname, other.fullname])
    assert first.fullname not in store_sink.native_ids(context=True)

    wait_stored(store_sink, [first.fullname])
    assert [r["status"] for r in _infos(server)] == [429, 200]
    assert [t.native_id for t in messages(store_sink, first.fullname)] == [first.fullname, answer.fullname]
