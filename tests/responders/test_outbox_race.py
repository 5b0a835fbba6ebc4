"""Two senders at once (two desks, or a desk beside `earful serve`): every reply reaches the network once.

Each flusher is a process of its own with its own sender, as two desks are; they start together on the same
queued replies, on every network and on both back ends, and the test counts what the sandbox received."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from outbox_kit import FIRST_LISTED, NETWORKS, Network, start_network
from sqlmodel import select

from responders.outbox import Outbox, queue_reply
from store import Store
from store.clock import utcnow
from store.mentions import save_mentions
from store.models import Reply, Thread

pytestmark = pytest.mark.timeout(120)

REPLIES = 8
FLUSHER = Path(__file__).with_name("outbox_process.py")


@pytest.fixture(params=NETWORKS)
def network(request) -> Iterator[Network]:
    started = start_network(request.param)
    yield started
    started.stop()


def queue_answers(store: Store, network: Network, make_mention, count: int) -> dict[int, str]:
    """`count` customers, each in a thread of their own with a reply queued; reply id -> post it answers."""
    answers: dict[int, str] = {}
    for n in range(count):
        native = network.post_customer(f"my order {n} never arrived", author=f"customer{n}")
        mention = make_mention(native, network=network.name, conversation=f"conv-{n}", author=f"u{n}")
        with store.write() as session:
            [stored] = save_mentions([mention], session=session).stored
            reply = queue_reply(
                stored.thread_id, f"Sorry about order {n}, it ships today", responder="alice", session=session
            )
            assert reply.id is not None
            answers[reply.id] = native
    return answers


def race(store: Store, network: Network, tmp_path: Path, flushers: int = 2) -> list[set[int]]:
    """`flushers` processes flush the same outbox, all starting at the same moment; what each settled."""
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in range(flushers)]
    args = [store.url, network.name, network.base_url, network.login, FIRST_LISTED[network.name]]
    running = [
        subprocess.Popen(
            [sys.executable, str(FLUSHER), "flush", *args, str(flag), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    try:
        for _ in range(1200):
            if all(flag.exists() for flag in ready) or any(p.poll() is not None for p in running):
                break
            time.sleep(0.05)
        go.touch()
        done = [p.communicate(timeout=90) for p in running]
    finally:
        for p in running:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(running, done, strict=True):
        assert p.returncode == 0, err[-3000:]
    return [{int(i) for i in out.split()} for out, _ in done]


def test_two_flusher_processes_post_each_reply_once(any_store, network, make_mention, tmp_path):
    answers = queue_answers(any_store, network, make_mention, REPLIES)
    settled = race(any_store, network, tmp_path)

    # What the network received: one reply to each customer, and one request to post it.
    assert network.replies_to() == {native: 1 for native in answers.values()}
    assert network.post_requests() == REPLIES
    # Each reply was settled by exactly one of them.
    assert sorted(i for ids in settled for i in ids) == sorted(answers)
    with any_store.read() as session:
        replies = list(session.exec(select(Reply)))
        assert {r.status for r in replies} == {"sent"}
        assert [r.attempts for r in replies] == [1] * REPLIES
        assert all(session.get(Thread, r.thread_id).first_response_at is not None for r in replies)


def test_two_flushers_in_one_process_post_each_reply_once(sqlite_store, make_mention):
    """A desk's own threads (a reply sent from the thread screen while a refresh flushes) never both send."""
    network = start_network("bluesky")
    try:
        answers = queue_answers(sqlite_store, network, make_mention, REPLIES)
        outboxes = [Outbox(sqlite_store, {"bluesky": network.make_sender()}) for _ in range(2)]
        start = threading.Barrier(2)

        def flush(outbox: Outbox) -> None:
            start.wait()
            outbox.flush()

        threads = [threading.Thread(target=flush, args=(outbox,)) for outbox in outboxes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert network.replies_to() == {native: 1 for native in answers.values()}
        assert network.post_requests() == REPLIES
    finally:
        network.stop()


def test_a_reply_held_by_a_live_sender_elsewhere_is_left_alone(any_store, make_mention):
    """A claim whose holder runs on another machine is respected until its lease runs out."""
    network = start_network("bluesky")
    try:
        [reply_id] = queue_answers(any_store, network, make_mention, 1)
        with any_store.write() as session:
            reply = session.get(Reply, reply_id)
            reply.status, reply.attempts, reply.claimed_by = "sending", 1, "other-host/boot/ns|4242|abcdef"
            reply.claimed_at = utcnow()
        outbox = Outbox(any_store, {"bluesky": network.make_sender()})
        assert outbox.flush() == []
        assert network.post_requests() == 0
        with any_store.read() as session:
            assert session.get(Reply, reply_id).status == "sending"

        # Its lease over, the holder is taken for gone: the post is looked for first, then made once.
        [settled] = Outbox(any_store, {"bluesky": network.make_sender()}, lease_seconds=0).flush()
        assert settled.status == "sent" and network.post_requests() == 1
    finally:
        network.stop()
