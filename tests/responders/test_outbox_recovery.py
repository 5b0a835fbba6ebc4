"""A sender killed between the network taking a reply and earful recording it: the next run finds the reply, by
the account that posted it, and never posts it again."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from outbox_kit import FIRST_LISTED, Network, start_network
from sqlmodel import select
from test_outbox_race import queue_answers

from earful.app import own_handles
from earful.settings import Settings
from listener.config import BrandSettings
from responders.outbox import Outbox
from store import Store
from store.models import Reply

pytestmark = pytest.mark.timeout(120)

FLUSHER = Path(__file__).with_name("outbox_process.py")


def kill_mid_send(store: Store, network: Network) -> None:
    """Flush in a process of its own that is SIGKILLed right after the network took the reply."""
    done = subprocess.run(
        [
            sys.executable,
            str(FLUSHER),
            "die-after-posting",
            store.url,
            network.name,
            network.base_url,
            network.login,
            FIRST_LISTED[network.name],
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


def brand_desk(network: Network) -> Settings:
    """A brand whose first listed account on this network is not the one the sender signs in as."""
    accounts = {network.name: [FIRST_LISTED[network.name], network.login]}
    return Settings(brands=[BrandSettings(name="acme", accounts=accounts)])


@pytest.mark.parametrize("name", ["bluesky", "reddit"])
def test_recovery_after_a_sigkill_finds_the_reply_posted_by_the_login(any_store, make_mention, name):
    network = start_network(name)
    try:
        [native] = queue_answers(any_store, network, make_mention, 1).values()
        kill_mid_send(any_store, network)
        assert network.replies_to() == {native: 1}
        with any_store.read() as session:
            left = session.exec(select(Reply)).one()
        assert left.status == "sending" and left.sent_as == network.login

        outbox = Outbox(any_store, {name: network.make_sender()}, own_handle=own_handles(brand_desk(network)))
        [reply] = outbox.flush()

        [(answered, _, author)] = network.replies()
        assert (answered, author) == (native, network.login)
        assert network.post_requests() == 1, "the reply was posted once, not again after the crash"
        assert reply.status == "sent" and reply.error is None
        assert outbox.flush() == []
    finally:
        network.stop()


def test_an_x_duplicate_refusal_means_the_reply_is_there(any_store, make_mention):
    """X cannot say whom the token posts as here, so recovery looks by the brand's first listed account and
    misses; X then refuses the repeat as duplicate content. That refusal means the reply exists: it is found
    and marked sent, not failed."""
    network = start_network("x")
    try:
        [native] = queue_answers(any_store, network, make_mention, 1).values()
        kill_mid_send(any_store, network)
        [(_, _, author)] = network.replies()
        assert author == network.login != FIRST_LISTED["x"]

        outbox = Outbox(any_store, {"x": network.make_sender()}, own_handle=own_handles(brand_desk(network)))
        [reply] = outbox.flush()

        [posted] = network.server.sandbox.replies
        assert reply.status == "sent", reply.error
        assert reply.native_id == posted.id and reply.error is None
        assert network.replies_to() == {native: 1}
    finally:
        network.stop()
