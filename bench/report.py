"""The report's speed: `earful report` over a week of 1,000,000 mentions on SQLite. Target (issue 6): under 10 s.
Printed, never asserted.

`python -m bench report` runs only this. The database is a real SQLite file with the real schema (migrations,
full-text triggers and all), filled with executemany of plain tuples: the ingestion pipeline would take hours
for a million mentions and is measured by the ingest bench instead.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from store import Store

WEEK = "2026-W47"
FIGURE_GROUPS = 3  # responders.report_data.collect's groups, the build's first steps
START = datetime(2026, 11, 16, tzinfo=UTC)
TIERS = (("critical", 88), ("high", 68), ("normal", 40), ("low", 12))
NETWORKS = ("x", "x", "x", "mastodon", "bluesky", "reddit")
SENTIMENTS = ("negative", "negative", "neutral", "positive")
PRODUCTS = (
    "Widget Pro",
    "Widget Mini",
    "the app",
    "Acme Card",
    "Acme One",
    "SmartHub",
    "Gift card",
    "Acme Go",
)
RESPONDERS = ("alice", "bob", "carol", "dan", "erin", "frank")
TEMPLATES = ("sorry-delay", "dm-us", "refund-started", "outage-known", None)
TEXTS = (
    "@acme my order {n} never arrived and nobody answers #delivery",
    "@acme thanks, all sorted now",
    "@acme is the app down? cannot log in since this morning #outage",
    "@acme charged twice for order {n}, I want a refund",
    "@acme love the new {p}, great job",
    "@acme the {p} stopped working after the update, useless",
    "@acme still waiting for my refund on {n}, this is the third time I ask",
)


def _stamp(moment: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME storage format; UTCDateTime stores UTC.
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def seed(path: Path, mentions: int, *, previous_share: float = 0.25, seed_value: int = 6) -> dict[str, int]:
    """`mentions` mentions in the reported week and `previous_share` as many in the week before, in threads of
    one to three posts (customer, brand reply, follow-up), with customers, identities and earful replies."""
    rng = random.Random(seed_value)
    customers = max(1000, mentions // 7)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    now = _stamp(START)
    db.executemany(
        "INSERT INTO customer (id, display_name, tier, notes, tags, created_at, crm_handles) "
        "VALUES (?, ?, 'standard', '', '[]', ?, '[]')",
        ((i, f"Customer {i}", now) for i in range(1, customers + 1)),
    )
    db.executemany(
        "INSERT INTO identity (id, customer_id, network, native_user_id, handle, display_name, followers, is_own, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
        (
            (
                i,
                i,
                NETWORKS[i % len(NETWORKS)],
                f"u{i}",
                f"user{i}",
                f"Customer {i}",
                rng.randint(0, 50_000),
                now,
            )
            for i in range(1, customers + 1)
        ),
    )
    brand_identity = customers + 1
    db.execute(
        "INSERT INTO identity (id, customer_id, network, native_user_id, handle, display_name, followers, is_own, "
        "updated_at) VALUES (?, NULL, 'x', 'acme', 'acme', 'Acme', 100000, 1, ?)",
        (brand_identity, now),
    )
    counts = {"mentions": 0, "threads": 0, "replies": 0}
    for week_start, target in (
        (START - timedelta(days=7), int(mentions * previous_share)),
        (START, mentions),
    ):
        _seed_week(db, rng, week_start, target, customers, brand_identity, counts)
    db.commit()
    # Into the database file, and onto the disk: a build timed while the kernel still writes a gigabyte of
    # seed data back would measure the seed.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    os.sync()
    return counts


def _seed_week(
    db: sqlite3.Connection,
    rng: random.Random,
    week_start: datetime,
    target: int,
    customers: int,
    brand_identity: int,
    counts: dict[str, int],
) -> None:
    written, chunk = 0, 50_000
    while written < target:
        threads: list[tuple[Any, ...]] = []
        rows: list[tuple[Any, ...]] = []
        replies: list[tuple[Any, ...]] = []
        while len(rows) < chunk and written + len(rows) < target:
            counts["threads"] += 1
            thread_id = counts["threads"]
            customer = rng.randint(1, customers)
            network = NETWORKS[customer % len(NETWORKS)]
            tier, base = rng.choice(TIERS)
            at = week_start + timedelta(seconds=rng.uniform(0, 7 * 86400 - 3600))
            posts = [(at, False)]
            answered = rng.random() < 0.6
            if answered:
                posts.append((at + timedelta(minutes=rng.expovariate(1 / 90)), True))
                if rng.random() < 0.4:
                    posts.append((posts[-1][0] + timedelta(minutes=rng.uniform(5, 600)), False))
            # Every post inside the week, so the report covers exactly the mentions seeded for it.
            last_moment = week_start + timedelta(days=7, microseconds=-1)
            posts = [(min(when, last_moment), own) for when, own in posts]
            first_mention = counts["mentions"] + 1
            for when, own in posts:
                counts["mentions"] += 1
                product = rng.choice(PRODUCTS)
                template = rng.choice(TEXTS)
                text = (
                    "Sorry to hear that, DM us"
                    if own
                    else template.format(n=rng.randint(10_000, 99_999), p=product)
                )
                entities = "[]"
                if not own and ("{p}" in template or rng.random() < 0.1):
                    entities = f'[{{"label": "PRODUCT", "text": "{product}", "start": 0, "end": 1}}]'
                sentiment = None if own else rng.choice(SENTIMENTS)
                rows.append(
                    (
                        counts["mentions"],
                        network,
                        f"m{counts['mentions']}",
                        thread_id,
                        brand_identity if own else customer,
                        "Acme",
                        int(own),
                        text,
                        _stamp(when),
                        sentiment,
                        None if own else round(rng.random(), 3),
                        0 if own else min(100, base + rng.randint(0, 11)),
                        "low" if own else tier,
                        entities,
                    )
                )
            response = posts[1][0] if answered else None
            last = posts[-1][0]
            threads.append(
                (
                    thread_id,
                    network,
                    f"c{thread_id}",
                    "Acme",
                    customer,
                    "pending" if answered else "new",
                    rng.choice((None, "alice", "bob")),
                    base,
                    tier,
                    _stamp(at),
                    _stamp(last),
                    _stamp(at),
                    _stamp(max(when for when, own in posts if not own)),
                    _stamp(response) if response else None,
                    len(posts),
                    _stamp(last),
                )
            )
            if answered and rng.random() < 0.3:
                counts["replies"] += 1
                assert response is not None
                replies.append(
                    (
                        thread_id,
                        first_mention,
                        rng.choice(RESPONDERS),
                        f"bench-{thread_id}",
                        rng.choice(TEMPLATES),
                        _stamp(response),
                        _stamp(response),
                    )
                )
        db.executemany(
            "INSERT INTO thread (id, network, conversation_id, brand, customer_id, status, assignee, urgency, tier, "
            "first_activity_at, last_activity_at, first_inbound_at, last_inbound_at, first_response_at, "
            "mention_count, tags, snooze_until_reply, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', 0, ?)",
            threads,
        )
        db.executemany(
            "INSERT INTO mention (id, network, native_id, thread_id, identity_id, brand, is_own, text, created_at, "
            "received_at, stored_at, raw, sentiment, sentiment_probs, complaint, urgency, urgency_tier, entities, "
            "explanation, risks) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9, '{}', ?10, '{}', ?11, ?12, ?13, ?14, '[]', '[]')",
            rows,
        )
        db.executemany(
            "INSERT INTO reply (thread_id, in_reply_to_id, responder, text, status, idempotency_key, attempts, "
            "template, created_at, sent_at) VALUES (?, ?, ?, 'Sorry!', 'sent', ?, 1, ?, ?, ?)",
            replies,
        )
        written += len(rows)


def run(workdir: Path, mentions: int = 1_000_000) -> dict[str, Any]:
    from responders.report import build_week_report

    path = workdir / "report.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.dispose()
    started = time.perf_counter()
    counts = seed(path, mentions)
    seed_s = time.perf_counter() - started

    store = Store(f"sqlite:///{path}")
    marks: list[tuple[str, float]] = []

    def heard(_done: int, _total: int, step: str) -> None:
        marks.append((step, time.perf_counter()))

    started = time.perf_counter()
    paths = build_week_report(store, WEEK, workdir / "out", progress=heard)
    total = time.perf_counter() - started
    store.dispose()
    steps = [
        (name.split(" (")[0].replace(str(workdir / "out") + "/", ""), round(marks[i + 1][1] - at, 2))
        for i, (name, at) in enumerate(marks[:-1])
    ]
    # The figures' three groups of queries run two at a time, so their steps' own times mean little: one line.
    figures = round(sum(seconds for _name, seconds in steps[:FIGURE_GROUPS]), 2)
    steps = [("Figures: three groups of queries, two at a time", figures), *steps[FIGURE_GROUPS:]]
    return {
        "mentions_in_db": counts["mentions"],
        "mentions_in_week": paths.data.mention_rows,
        "threads_in_week": paths.data.thread_rows,
        "replies": counts["replies"],
        "seed_s": round(seed_s, 1),
        "build_s": round(total, 2),
        "steps_s": dict(steps),
        "sizes_mb": {p.name: round(p.stat().st_size / 1e6, 1) for p in paths.files()},
    }


def report(result: dict[str, Any]) -> None:
    print(
        f"report: {WEEK} over {result['mentions_in_week']:,} mentions ({result['threads_in_week']:,} threads; "
        f"{result['mentions_in_db']:,} in the database): built in {result['build_s']} s (target < 10 s)"
    )
    for step, seconds in result["steps_s"].items():
        print(f"  {seconds:6.2f} s  {step}")
    print("  files: " + ", ".join(f"{name} {mb} MB" for name, mb in result["sizes_mb"].items()))
