"""`earful serve`'s outbox loop across a database outage: it outlives the outage, says so in one line, and sends
what was queued once the database is back. The outage is a relay in front of the shared PostgreSQL server going
away, never the server itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

import pytest
from outage_kit import Relay
from outbox_kit import start_network
from pg_kit import own_database
from sqlalchemy.engine import make_url
from sqlmodel import select
from test_outbox_race import queue_answers

from earful.app import _retry_outbox, _say_what_is_left
from responders.outbox import Outbox
from store import Store
from store.models import Reply

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own (the relay's outage must not touch what other tests use)."""
    with own_database("earful_outage", migrate=True) as own:
        yield own.url


@pytest.fixture
def relay(database) -> Iterator[tuple[Relay, str]]:
    """The relay, started, and the database's URL through it."""
    relay = Relay(make_url(database).port or 5432).start()
    yield (
        relay,
        make_url(database).set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False),
    )
    relay.stop()


async def until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def outbox_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "earful.app" and r.levelno == level]


async def test_the_loop_outlives_a_database_outage_and_sends_what_was_queued(
    database, relay, make_mention, caplog
):
    caplog.set_level(logging.INFO, logger="earful.app")
    network = start_network("mastodon")
    proxy, relayed = relay
    served, direct = Store(relayed), Store(database)
    stop = asyncio.Event()
    loop = asyncio.create_task(_retry_outbox(Outbox(served, {"mastodon": network.make_sender()}), 0.05, stop))
    try:
        await asyncio.sleep(0.2)
        proxy.stop()
        await until(lambda: bool(outbox_lines(caplog, logging.WARNING)) or loop.done(), "the outage")
        assert not loop.done(), "the outbox loop died with the database"

        # A responder queues a reply (from a desk that still reaches the database) while serve's cannot.
        [native] = queue_answers(direct, network, make_mention, 1).values()
        await asyncio.sleep(0.3)
        assert network.post_requests() == 0

        proxy.start()
        await until(lambda: network.replies_to() == {native: 1}, "the reply to be posted")
        await until(lambda: bool(outbox_lines(caplog, logging.INFO)), "the loop to say it works again")
    finally:
        stop.set()
        await asyncio.wait_for(loop, 30)  # ends without an error of its own
        network.stop()
        served.dispose()
    with direct.read() as session:
        assert session.exec(select(Reply.status)).one() == "sent"
    direct.dispose()
    assert network.post_requests() == 1

    # Each trouble is one line that names the cause and the fix, never a traceback.
    [said, *_] = outbox_lines(caplog, logging.WARNING)
    assert said.exc_info is None and "\n" not in said.getMessage()
    assert "cannot open the database" in said.getMessage() and "Fix:" in said.getMessage()
    assert "Traceback" not in caplog.text


def test_stopping_says_what_is_left_to_send_even_with_the_database_gone(
    database, relay, make_mention, caplog
):
    caplog.set_level(logging.INFO, logger="earful.app")
    network = start_network("mastodon")
    proxy, relayed = relay
    served, direct = Store(relayed), Store(database)
    try:
        queue_answers(direct, network, make_mention, 2)
        outbox = Outbox(served, {"mastodon": network.make_sender()})
        _say_what_is_left(outbox)
        [left] = outbox_lines(caplog, logging.WARNING)
        assert "2 replies still queued" in left.getMessage()

        caplog.clear()
        proxy.stop()
        _say_what_is_left(outbox)  # does not raise: stopping stays clean
        [unsure] = outbox_lines(caplog, logging.WARNING)
        assert "could not count the replies left to send" in unsure.getMessage()
        assert "cannot open the database" in unsure.getMessage() and unsure.exc_info is None
    finally:
        network.stop()
        served.dispose()
        direct.dispose()
