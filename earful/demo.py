"""`earful demo`: the whole desk on this machine, with no credentials and no network.

Sandbox X, Mastodon, Bluesky and Reddit servers replay real customer-support conversations over each network's
own wire protocol; the real collectors, classifier, store, alert delivery (to a local webhook) and desk run
against them, on a fresh SQLite file.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlmodel import func, select

from earful.demo_networks import DemoNetworks, demo_brands
from earful.demo_store import DEMO_KEEP, new_demo_database
from earful.settings import DatabaseSettings, Settings, load_settings
from responders.alert_rules import (
    AlertRule,
    IncidentRule,
    NegativeReachRule,
    NegativeSpikeRule,
    SilentRule,
    SlaRule,
    TermsRule,
    TierRule,
    VipRule,
    VolumeSpikeRule,
)
from responders.alerts import AlertSettings
from responders.subscribers import Subscriber
from store import Store
from store.models import Customer, Mention, Thread


@dataclass
class AlertInbox:
    """A local webhook standing in for the alert subscribers (Slack, e-mail...) in the demo."""

    received: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> AlertInbox:
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    inbox.received.append(json.loads(body or b"{}"))
                except ValueError:
                    inbox.received.append({"body": body.decode("utf-8", "replace")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="earful-alert-inbox", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"json://127.0.0.1:{self._server.server_address[1]}/alerts"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def demo_database() -> str:
    # Each demo replays with fresh ids: a new file per run rather than two replays mixed, the last few kept.
    return f"sqlite:///{new_demo_database()}"


def demo_settings(settings: Settings, *, networks: dict[str, Any], alert_url: str, database: str) -> Settings:
    return settings.model_copy(
        update={
            "database": DatabaseSettings(url=database),
            **networks,
            "bus": settings.bus.model_copy(update={"kind": "memory"}),
            "brands": demo_brands(),
            "alerts": AlertSettings(
                rules=demo_rules(),
                # No cap: the demo counts every alert the webhook receives against those queued.
                subscribers=[Subscriber(name="demo-webhook", url=SecretStr(alert_url), max_per_hour=0)],
                evaluate_seconds=10,
            ),
        }
    )


def demo_rules() -> list[AlertRule]:
    """One rule of each kind, so the desk's alerts screen (`!`) and `earful alerts history` have something to
    show; config/earful.toml explains each."""
    return [
        TierRule(name="urgent-mention", min_tier="critical"),
        VipRule(name="vip", min_followers=50_000),
        TermsRule(
            name="legal-and-safety", query='lawyer OR lawsuit OR sue OR "small claims" OR fire OR injured'
        ),
        NegativeReachRule(name="loud-and-angry", min_followers=20_000),
        SlaRule(name="sla", before_minutes=5, min_tier="critical"),
        # The sandbox replays one corpus on four networks, so the same words arrive from four "customers": an
        # incident needs a fifth here.
        IncidentRule(name="incident", window_minutes=60, min_customers=5),
        VolumeSpikeRule(name="volume-spike"),
        NegativeSpikeRule(name="negative-spike"),
        SilentRule(name="source-silent", minutes=10),
    ]


def run_demo(
    *,
    config: Path | None = None,
    headless: bool = False,
    mentions: int = 200,
    pace: float | None = None,
    database: str | None = None,
) -> dict[str, Any] | None:
    base = load_settings(config)
    networks = DemoNetworks(base.demo, pace=pace or base.demo.pace, headless=headless).start()
    alerts = AlertInbox().start()
    try:
        settings = demo_settings(
            base, networks=networks.settings(), alert_url=alerts.url, database=database or demo_database()
        )
        store = Store(settings.database.url)
        store.migrate()
        if headless:
            return asyncio.run(_headless(settings, store, networks, alerts, mentions))
        _interactive(settings, store, own_file=database is None)
        return None
    finally:
        networks.stop()
        alerts.stop()


def _interactive(settings: Settings, store: Store, *, own_file: bool) -> None:
    from earful.app import PipelineThread, make_desk, make_tui
    from earful.logs import log_to_file
    from earful.pipeline import Pipeline

    log_path = log_to_file("demo")
    runner = PipelineThread(Pipeline(settings, store)).start()
    try:
        make_tui(make_desk(settings, store=store), settings=settings, status=runner.status).run()
    finally:
        runner.stop()
    for line in farewell(store.url, log_path, kept=own_file):
        print(line, file=sys.stderr)


def farewell(url: str, log_path: Path, *, kept: bool) -> list[str]:
    """What the demo says as it ends: where its database stays and the command, runnable as printed, that opens
    it again. `kept`: a file of the demo's own, one of the last DEMO_KEEP runs (else the user's --database)."""
    from earful.cli_common import earful_command

    where = (
        f"The demo's database is kept at {url} (the last {DEMO_KEEP} runs are kept; older ones are deleted)"
        if kept
        else f"The demo's database is at {url}"
    )
    return [
        f"{where}; its log is at {log_path}.",
        f"Open it again with: EARFUL_DATABASE__URL={shlex.quote(url)} {earful_command()} tui",
    ]


async def _headless(
    settings: Settings, store: Store, networks: DemoNetworks, alerts: AlertInbox, target: int
) -> dict[str, Any]:
    from earful.app import make_desk
    from earful.logs import log_to_stderr
    from earful.pipeline import Pipeline

    log_to_stderr(level=30)
    pipeline = Pipeline(settings, store)
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    started = time.monotonic()
    try:
        await _wait_for_stored(pipeline, task, target, started)
        # Stop the replay, then let everything already posted reach the store before counting losses.
        networks.pause()
        await _drain(pipeline, task)
        replies = await asyncio.to_thread(_answer_most_urgent, make_desk(settings, store=store))
        await _wait_for_alerts(pipeline, alerts)
    finally:
        stop.set()
        await task
    stats = pipeline.stats
    latencies = sorted(stats.latencies) or [0.0]
    with store.read() as session:
        stored_ids = set(session.exec(select(Mention.native_id).where(Mention.network == "x")))
        per_network = dict(
            session.exec(select(Mention.network, func.count()).group_by(Mention.network)).all()
        )
        threads = session.exec(select(func.count()).select_from(Thread)).one()
        customers = session.exec(select(func.count()).select_from(Customer)).one()
    # What a complete X collector must have: every posted tweet matching the rules it registered. (Each
    # network's own fault tests prove the same for Mastodon, Bluesky and Reddit.)
    x = networks.x
    expected = {t.id for rule in x.rules for t in x.matching(rule["value"])}
    return {
        "ingested": sum(per_network.values()),
        "per_network": per_network,
        "classified": stats.classified,
        "threads": threads,
        "customers": customers,
        "alerts": len(alerts.received),
        "replies": replies,
        "lost": len(expected - stored_ids),
        "duplicates_skipped": stats.duplicates,
        "latency_p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "latency_p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "seconds": round(time.monotonic() - started, 1),
        # Where the run's data stay, for `earful report` or `earful tui` after it.
        "database": store.url,
    }


async def _wait_for_stored(pipeline: Any, task: asyncio.Task[None], target: int, started: float) -> None:
    shown = 0.0
    while pipeline.stats.stored < target:
        if task.done():
            task.result()
            raise RuntimeError("the pipeline stopped before the demo finished")
        now = time.monotonic()
        if now - shown > 2:
            shown = now
            done = pipeline.stats.stored
            rate = done / max(now - started, 1e-6)
            eta = f"ETA {(target - done) / rate:.0f}s" if rate > 0 else "loading the model"
            print(f"stored {done}/{target} mentions · {rate:.1f}/s · {eta}", file=sys.stderr)
        await asyncio.sleep(0.1)


async def _drain(pipeline: Any, task: asyncio.Task[None], quiet: float = 2.0, limit: float = 30.0) -> None:
    """Wait until no mention has arrived for `quiet` seconds (the stream and backfill have caught up)."""
    deadline = time.monotonic() + limit
    last, since = pipeline.stats.received, time.monotonic()
    while time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.1)
        stats = pipeline.stats
        busy = stats.received != last or stats.stored + stats.duplicates + stats.rejected < stats.received
        if busy:
            last, since = pipeline.stats.received, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


async def _wait_for_alerts(pipeline: Any, alerts: AlertInbox, limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.1)):
        if len(alerts.received) >= pipeline.stats.alerts_queued:
            return
        await asyncio.sleep(0.1)


def _answer_most_urgent(desk: Any) -> int:
    """Headless stand-in for a responder: answer the most urgent thread with a saved reply."""
    rows = desk.inbox("inbox", limit=1)
    if not rows:
        return 0
    view = desk.thread(rows[0].thread_id)
    known = desk.variables(view)
    # A saved reply whose every variable is known: a real responder would not send "{order}" to a customer.
    saved = next((s for s in desk.saved_replies if set(s.variables()) <= set(known)), None)
    if saved is None:
        return 0
    reply = desk.reply(rows[0].thread_id, saved.fill(known), template=saved.name)
    return 1 if reply.status == "sent" else 0
