"""SIGKILL the collecting process mid-replay on all four networks, start it again: every mention is stored, once.

The real `earful listen` runs in its own process against the four sandboxes (running here), with the shipped
classifier and a SQLite file. The kill comes without warning (no shutdown code runs); the replays go on while the
process is dead, so the restart must backfill from the cursors it stored. What each network must have delivered is
computed from the sandboxes, independently of the collectors.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bluesky_testkit import BRAND_HANDLES, about
from reddit_testkit import HANDLES as REDDIT_HANDLES
from reddit_testkit import about_desk
from sqlmodel import func, select
from x_testkit import wait_for

from listener.sandbox.bluesky import BlueskySandboxThread
from listener.sandbox.mastodon import MastodonSandboxThread
from listener.sandbox.reddit import RedditSandboxThread
from listener.sandbox.x import XSandboxThread
from store import Store
from store.models import Mention

pytestmark = pytest.mark.timeout(400)

ROOT = Path(__file__).resolve().parents[2]
X_ACCOUNTS = ["AppleSupport", "Delta", "AmericanAir"]


def with_context(wanted: set[str], parent_of: Callable[[str], str | None], limit: int = 10) -> set[str]:
    """The mentions and what a collector may fetch above them as thread context (listener/context.py): the
    posts each replies to, up to the root or `limit` posts, stopping at a mention."""
    allowed = set(wanted)
    for native_id in wanted:
        up = parent_of(native_id)
        for _ in range(limit):
            if up is None or up in wanted:
                break
            allowed.add(up)
            up = parent_of(up)
    return allowed


def config(tmp_path: Path, urls: dict[str, str]) -> Path:
    bluesky = ", ".join(f'"{h}"' for h in BRAND_HANDLES)
    reddit = ", ".join(f'"{h}"' for h in REDDIT_HANDLES)
    x = ", ".join(f'"{h}"' for h in X_ACCOUNTS)
    path = tmp_path / "earful.toml"
    path.write_text(
        f"""
[x]
base_url = "{urls["x"]}"
read_timeout = 5
[mastodon]
enabled = true
base_url = "{urls["mastodon"]}"
read_timeout = 5
[bluesky]
enabled = true
base_url = "{urls["bluesky"]}"
jetstream_url = "{"ws" + urls["bluesky"][4:]}"
handle = "sandbox-desk.bsky.social"
read_timeout = 5
poll_seconds = 3600
[reddit]
enabled = true
base_url = "{urls["reddit"]}"
auth_url = "{urls["reddit"]}"
username = "earful_desk"
subreddits = ["support"]
poll_seconds = 0.5
[nlp]
batch_ms = 20

[[brands]]
name = "x-desk"
networks = ["x"]
accounts = {{ x = [{x}] }}
[[brands]]
name = "delta"
networks = ["mastodon"]
terms = ["#delta"]
accounts = {{ mastodon = ["Delta"] }}
[[brands]]
name = "bsky-desk"
networks = ["bluesky"]
accounts = {{ bluesky = [{bluesky}] }}
[[brands]]
name = "reddit-desk"
networks = ["reddit"]
accounts = {{ reddit = [{reddit}] }}
"""
    )
    return path


def listen(cfg: Path, db: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "EARFUL_DATABASE__URL": db,
        "EARFUL_X__BEARER_TOKEN": "sandbox",
        "EARFUL_MASTODON__ACCESS_TOKEN": "sandbox-token",
        "EARFUL_BLUESKY__APP_PASSWORD": "sandbox-app-password",
        "EARFUL_REDDIT__CLIENT_ID": "sandbox-client",
        "EARFUL_REDDIT__CLIENT_SECRET": "sandbox-secret",
        "EARFUL_REDDIT__PASSWORD": "sandbox",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "earful", "listen", "--config", str(cfg), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def per_network(store: Store) -> dict[str, int]:
    with store.read() as s:
        return dict(s.exec(select(Mention.network, func.count()).group_by(Mention.network)).all())


def stored(store: Store, network: str) -> list[str]:
    with store.read() as s:
        return list(s.exec(select(Mention.native_id).where(Mention.network == network)))


def test_sigkill_mid_replay_then_restart_stores_every_mention_once(tmp_path):
    servers: dict[str, Any] = {
        "x": XSandboxThread(pace=12, preposted=15, limit=260, keepalive=0.5, paused=True),
        "mastodon": MastodonSandboxThread(pace=6, preposted=8, only=("Delta",), limit=70, paused=True),
        "bluesky": BlueskySandboxThread(
            pace=12,
            preposted=10,
            limit=260,
            keepalive=0.5,
            paused=True,
            brands=[h.split(".")[0] for h in BRAND_HANDLES],
        ),  # fmt: skip
        "reddit": RedditSandboxThread(pace=12, preposted=10, limit=260, paused=True, budget=10_000_000),
    }
    urls = {name: server.start() for name, server in servers.items()}
    db = f"sqlite:///{tmp_path / 'earful.db'}"
    store = Store(db)
    store.migrate()
    cfg = config(tmp_path, urls)
    first = listen(cfg, db)
    second = None
    try:
        # Every network's history is in before the replay starts (the model takes a few seconds to load).
        wait_for(lambda: len(per_network(store)) == 4, timeout=90, what="the first run storing on all four")
        for server in servers.values():
            server.sandbox.resume()
        before = sum(per_network(store).values())
        wait_for(
            lambda: sum(per_network(store).values()) >= before + 40, timeout=60, what="the replay flowing"
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = per_network(store)

        # The replays go on while nothing listens: only the restart's backfill can bring these.
        wait_for(
            lambda: all(s.sandbox.replay.remaining == 0 for s in servers.values()),
            timeout=90,
            what="every replay to finish",
        )
        second = listen(cfg, db, "--until-idle", "6")
        out, err = second.communicate(timeout=240)
        assert second.returncode == 0, err.decode()[-3000:]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
        for server in servers.values():
            server.stop()

    x = servers["x"].sandbox
    expected = {
        "x": {t.id for rule in x.rules for t in x.matching(rule["value"])},
        "mastodon": {s.id for s in servers["mastodon"].sandbox.tagged("delta")},
        "bluesky": {p.uri for p in servers["bluesky"].sandbox.posted if about(p, BRAND_HANDLES)},
        "reddit": {t.fullname for t in servers["reddit"].sandbox.posted if about_desk(t)},
    }
    parents: dict[str, Callable[[str], str | None]] = {
        "x": lambda i: getattr(x.tweet(i), "in_reply_to_id", None),
        "mastodon": lambda i: getattr(servers["mastodon"].sandbox.status(i), "in_reply_to_id", None),
        "bluesky": lambda i: getattr(
            getattr(servers["bluesky"].sandbox.post(i), "parent", None), "uri", None
        ),
        "reddit": lambda i: getattr(servers["reddit"].sandbox.thing(i), "parent_id", None) or None,
    }
    for network, wanted in expected.items():
        ids = stored(store, network)
        assert len(ids) == len(set(ids)), f"{network}: a mention stored twice"
        allowed = with_context(wanted, parents[network])
        assert wanted <= set(ids) <= allowed, (
            f"{network}: missing {sorted(wanted - set(ids))[:5]}, extra {sorted(set(ids) - allowed)[:5]}"
        )
        assert len(wanted) > at_kill.get(network, 0), f"{network}: the kill came after the last mention"
