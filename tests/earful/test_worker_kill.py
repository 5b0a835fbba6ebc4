"""Two `earful worker` processes (the real command, the shipped model) on one JetStream stream and one PostgreSQL
database, one SIGKILLed mid-stream: every published mention is stored exactly once, and every message is acked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from store import Store
from store.incoming import Author, NewMention
from store.models import Customer, Identity, Mention, Quarantine, Thread

NATS_URL = os.environ.get("EARFUL_TEST_NATS_URL", "nats://127.0.0.1:4222")
MENTIONS, AUTHORS = 1000, 50
START = datetime(2026, 11, 16, 9, tzinfo=UTC)
TEXTS = [
    "@acme my order {n} never arrived",
    "@acme refund for {n} please",
    "@acme app crashes again",
    "@acme thanks!",
]


def mentions() -> list[NewMention]:
    # Mentions 32 apart share a conversation that is new to both: two workers holding neighbouring batches
    # create the same thread and the same customer at the same moment.
    return [
        NewMention(
            network="x",
            native_id=str(10_000 + i),
            conversation_id=f"c{(i // 64) * 32 + i % 32}",
            text=TEXTS[i % len(TEXTS)].format(n=i % 7),
            created_at=START + timedelta(seconds=i),
            author=Author(native_user_id=f"u{i % AUTHORS}", handle=f"user{i % AUTHORS}"),
            brand="acme",
        )
        for i in range(MENTIONS)
    ]


def count(store: Store, table: type) -> int:
    with store.read() as s:
        return s.exec(select(func.count()).select_from(table)).one()


async def consumer_info(js, stream: str, durable: str):
    try:
        return await js.consumer_info(stream, durable)
    except Exception:
        return None


def start_workers(env: dict[str, str], tmp_path: Path) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "earful", "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=(tmp_path / f"worker{n}.log").open("w"),
            text=True,
        )
        for n in range(2)
    ]


async def scenario(
    env: dict[str, str], store: Store, workers: list[subprocess.Popen[str]]
) -> tuple[int, dict, int]:
    import nats

    stream, subject, durable = (
        env["EARFUL_BUS__STREAM"],
        env["EARFUL_BUS__SUBJECT"],
        env["EARFUL_BUS__DURABLE"],
    )
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    try:
        # Both loaded their model (a few seconds each, more on a busy machine) and wait on the consumer.
        deadline = time.monotonic() + 120
        while (info := await consumer_info(js, stream, durable)) is None or info.num_waiting < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            assert all(w.poll() is None for w in workers), "a worker exited at start"
            await asyncio.sleep(0.2)

        async def publish() -> None:
            for mention in mentions():
                headers = {"Nats-Msg-Id": f"{mention.network}:{mention.native_id}"}
                await js.publish(subject, mention.model_dump_json().encode(), headers=headers)
                await asyncio.sleep(0.004)

        deadline = time.monotonic() + 60
        publishing = asyncio.create_task(publish())
        loop = asyncio.get_running_loop()
        while (stored_at_kill := await loop.run_in_executor(None, count, store, Mention)) < MENTIONS // 4:
            assert time.monotonic() < deadline, "nothing was stored"
            await asyncio.sleep(0.05)
        workers[0].send_signal(signal.SIGKILL)  # mid-batch, as likely as not: no ack, no nak, no goodbye
        workers[0].wait(10)
        await publishing
        while await loop.run_in_executor(None, count, store, Mention) < MENTIONS:
            assert time.monotonic() < deadline, f"only {count(store, Mention)} of {MENTIONS} stored"
            assert workers[1].poll() is None, "the surviving worker exited"
            await asyncio.sleep(0.1)
        # Every message acknowledged: none waits for a redelivery the store would not need.
        while (
            (info := await consumer_info(js, stream, durable)) is None
            or info.num_ack_pending
            or info.num_pending
        ):
            assert time.monotonic() < deadline, f"messages left unacknowledged: {info}"
            await asyncio.sleep(0.2)
        workers[1].send_signal(signal.SIGTERM)
        out, _ = workers[1].communicate(timeout=30)
        return stored_at_kill, json.loads(out.splitlines()[-1]), workers[1].returncode
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        try:
            await js.delete_stream(stream)
        finally:
            await nc.close()


async def make_stream(env: dict[str, str]) -> None:
    import nats
    from nats.js.api import StreamConfig

    nc = await nats.connect(NATS_URL)
    config = StreamConfig(
        name=env["EARFUL_BUS__STREAM"], subjects=[env["EARFUL_BUS__SUBJECT"]], duplicate_window=120.0
    )
    await nc.jetstream().add_stream(config)
    await nc.close()


def test_two_workers_one_killed_mid_stream_store_every_mention_exactly_once(tmp_path, own_pg):
    url = own_pg.url
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "EARFUL_DATABASE__URL": url,
        "EARFUL_BUS__KIND": "jetstream",
        "EARFUL_BUS__URL": NATS_URL,
        "EARFUL_BUS__STREAM": f"EARFUL_KILL_{tag}",
        "EARFUL_BUS__SUBJECT": f"earful.kill.{tag}",
        "EARFUL_BUS__DURABLE": f"kill-{tag}",
        # What the killed worker held goes to the other one after 3 s, not the default minute.
        "EARFUL_BUS__ACK_WAIT_SECONDS": "3",
        "EARFUL_NLP__BATCH_SIZE": "16",
    }
    env.pop("EARFUL_CONFIG", None)
    store = Store(url)
    try:
        store.migrate()
        asyncio.run(make_stream(env))
        stored_at_kill, survivor, code = asyncio.run(scenario(env, store, start_workers(env, tmp_path)))
        with store.read() as s:
            distinct = s.exec(select(func.count(func.distinct(Mention.native_id)))).one()
            counted = s.exec(select(func.sum(Thread.mention_count))).one()
            customers = count(store, Customer)
            identities = count(store, Identity)
        total, aside = count(store, Mention), count(store, Quarantine)
    finally:
        store.dispose()
    assert code == 0 and survivor["last_error"] is None
    assert (total, distinct, aside) == (MENTIONS, MENTIONS, 0)
    assert counted == MENTIONS and identities == customers == AUTHORS
    # Both took part: the killed one had stored its share before it went.
    assert 0 < stored_at_kill < MENTIONS and survivor["stored"] < MENTIONS
    print(f"stored {total} of {MENTIONS} published; the survivor stored {survivor['stored']}")
