"""Sustained ingest rate: the X sandbox floods tweets, the real collector, classifier and store take them.

The rate is measured on the store's side: mentions committed per second between 10% and 90% of the run, so model
loading and the last stragglers do not count. Modes: the in-process bus into SQLite and into PostgreSQL; and
NATS JetStream with one and two `earful worker` processes (separate processes, as a team would run them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import func, select

PG_URL = os.environ.get("EARFUL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("EARFUL_TEST_NATS_URL", "nats://127.0.0.1:4222")
ROOT = Path(__file__).resolve().parents[1]


def fresh_pg() -> str:
    name = f"earful_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def fresh_sqlite() -> str:
    return "sqlite:///" + os.path.join(tempfile.mkdtemp(prefix="earful-bench-"), "bench.db")


def _count(store: Any) -> int:
    from store.models import Mention

    with store.read() as s:
        return int(s.exec(select(func.count()).select_from(Mention)).one())


def _measure(store: Any, quiet: float = 4.0, limit: float = 600.0) -> dict[str, float]:
    """Poll the store until nothing new arrives for `quiet` seconds; the rate between 10% and 90% of the total."""
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    last_change = started
    while time.monotonic() - started < limit:
        n = _count(store)
        now = time.monotonic()
        if not samples or n != samples[-1][1]:
            last_change = now
        samples.append((now, n))
        if n and now - last_change >= quiet:
            break
        time.sleep(0.1)
    total = samples[-1][1]
    t10 = next(t for t, n in samples if n >= 0.1 * total)
    t90 = next(t for t, n in samples if n >= 0.9 * total)
    rate = 0.8 * total / max(t90 - t10, 1e-6)
    return {"mentions": total, "per_s": round(rate, 1)}


def _settings(database: str, x_url: str, bus: dict[str, Any] | None = None) -> Any:
    from earful.demo_networks import demo_brands
    from earful.settings import load_settings
    from listener.jetstream import BusSettings
    from listener.sandbox.x import sandbox_settings

    base = load_settings()
    update: dict[str, Any] = {
        "database": base.database.model_copy(update={"url": database}),
        "x": sandbox_settings(x_url, mentions=False),
        "brands": demo_brands(),
    }
    if bus is not None:
        update["bus"] = BusSettings(**bus)
    return base.model_copy(update=update)


def _sandbox(rows: int) -> Any:
    from listener.sandbox.x import XSandboxThread

    # Far faster than earful can take them: the measured rate is earful's, not the sandbox's pace. Paused until
    # the stream is open, so every run ingests the same mentions (a first start's look-back is bounded).
    return XSandboxThread(pace=2000, preposted=0, limit=rows, keepalive=1.0, paused=True)


def _flood_when_streaming(sandbox: Any, pipeline: Any, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        event = pipeline.health.get("x:stream")
        if event is not None and event.state == "streaming":
            break
        time.sleep(0.1)
    sandbox.sandbox.resume()


def in_process(database: str, rows: int) -> dict[str, float]:
    from earful.app import PipelineThread
    from earful.pipeline import Pipeline
    from store import Store

    sandbox = _sandbox(rows)
    url = sandbox.start()
    store = Store(database)
    store.migrate()
    runner = PipelineThread(Pipeline(_settings(database, url), store)).start()
    try:
        _flood_when_streaming(sandbox, runner.pipeline)
        return _measure(store)
    finally:
        runner.stop()
        sandbox.stop()
        store.dispose()


def jetstream(database: str, rows: int, workers: int) -> dict[str, float]:
    """Collectors publish everything to JetStream first; then `workers` worker processes start and drain it."""
    from earful.app import PipelineThread
    from earful.pipeline import Pipeline
    from store import Store

    stream = f"EARFUL_BENCH_{uuid.uuid4().hex[:6]}"
    bus = {"kind": "jetstream", "url": NATS_URL, "stream": stream, "subject": f"earful.bench.{stream}",
           "durable": f"w{stream}"}  # fmt: skip
    sandbox = _sandbox(rows)
    url = sandbox.start()
    store = Store(database)
    store.migrate()
    settings = _settings(database, url, bus)
    publisher = PipelineThread(Pipeline(settings, store, consume=False)).start()
    published = publisher.pipeline
    _flood_when_streaming(sandbox, published)
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 3:
        time.sleep(0.2)
        if published.stats.received != last:
            last, since = published.stats.received, time.monotonic()
    publisher.stop()
    sandbox.stop()
    env = {**os.environ, "EARFUL_DATABASE__URL": database, "HF_HUB_OFFLINE": "1"}
    env.update({f"EARFUL_BUS__{k.upper()}": str(v) for k, v in bus.items()})
    # Workers on one machine share its cores: each gets its share, or their math threads fight over them.
    env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "earful", "worker", "--until-idle", "5"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        result = _measure(store, quiet=5.0)
    finally:
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        store.dispose()
    result["published"] = last
    return result


def ingest_rates(rows: int = 3000) -> dict[str, dict[str, float]]:
    results = {
        "sqlite": in_process(fresh_sqlite(), rows),
        "postgresql": in_process(fresh_pg(), rows),
        "jetstream_1_worker_pg": jetstream(fresh_pg(), rows, 1),
        "jetstream_2_workers_pg": jetstream(fresh_pg(), rows, 2),
    }
    return results
