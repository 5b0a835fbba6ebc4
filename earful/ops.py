"""Commands for scripts and checks: `earful status`, `earful listen`, `earful export mentions`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from datetime import datetime, timedelta
from typing import IO, Any

from sqlmodel import col, func, select

from earful.settings import Settings
from responders.report_csv import write_mentions_csv
from responders.report_sql import mapped_reads
from responders.safe import json_line, one_line
from store import Store
from store.clock import as_utc, utcnow
from store.errors import UserError
from store.export import iter_mentions
from store.health import WaitingNote, list_health, read_waiting_note
from store.models import Mention, Quarantine, SourceCursor, SourceHealth

# What Excel needs to read a CSV as UTF-8 (accents, emoji) rather than in the local code page.
BOM = "\ufeff"
# A row not refreshed for this long belongs to a process that stopped (serve writes every few seconds).
STALE_AFTER = timedelta(seconds=30)


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((now - as_utc(moment)).total_seconds()))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m ago"
    return f"{seconds // 86400}d ago"


def _waiting(row: SourceHealth, now: datetime) -> WaitingNote | None:
    """What the process behind a row no longer refreshed says it waits for, when it runs on this machine and
    is alive: a process that cannot write to the database (its disk full, say) cannot refresh its rows."""
    host, _, pid = row.reporter.rpartition(":")
    if host != socket.gethostname() or not pid.isascii() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        pass  # alive, another user's
    except (OSError, OverflowError):
        return None
    note = read_waiting_note(row.reporter)
    if note is None or now - as_utc(note.written_at) > STALE_AFTER:
        return None
    return note


def describe_state(row: SourceHealth, now: datetime) -> str:
    # The process's own word that it cannot write to the database beats the row it could not update.
    note = _waiting(row, now)
    if note is not None:
        return one_line(
            f"running, but cannot report (last report {_ago(row.updated_at, now)}, state then: {row.state}); "
            f"waiting since {_ago(note.since, now)}: {note.waiting_for}",
            300,
        )
    if now - as_utc(row.updated_at) > STALE_AFTER:
        return f"not running (last report {_ago(row.updated_at, now)}, state then: {row.state})"
    state = row.state
    if row.until is not None and as_utc(row.until) > now:
        state += f" until {as_utc(row.until):%H:%M:%S} UTC"
    if row.detail:
        state += f": {row.detail}"
    return one_line(state, 100)


def status_report(store: Store) -> dict[str, Any]:
    now = utcnow()
    with store.read() as session:
        rows = list_health(session=session)
        cursors = {c.source: c for c in session.exec(select(SourceCursor)).all()}
        mentions = session.exec(select(func.count(col(Mention.id)))).one()
        quarantined = session.exec(select(func.count(col(Quarantine.id)))).one()
    sources = [
        {
            "source": row.source,
            "network": row.network,
            "state": row.state,
            "running": now - as_utc(row.updated_at) <= STALE_AFTER or _waiting(row, now) is not None,
            "summary": describe_state(row, now),
            "until": row.until.isoformat() if row.until else None,
            "last_event_at": row.last_event_at.isoformat() if row.last_event_at else None,
            "last_event": _ago(row.last_event_at, now),
            "delivered": row.delivered,
            "reconnects": row.reconnects,
            "reporter": row.reporter,
        }
        for row in rows
    ]
    return {
        "sources": sources,
        "cursors": {name: c.value for name, c in sorted(cursors.items())},
        "mentions": mentions,
        "quarantined": quarantined,
    }


def print_status(report: dict[str, Any], out: IO[str]) -> None:
    sources = report["sources"]
    if not sources:
        out.write(
            "No source has reported yet. Start the collectors with `earful serve` (or `earful listen`),\n"
            "with at least one network enabled and a [[brands]] section in earful.toml.\n"
        )
    else:
        width = max(len(s["source"]) for s in sources)
        out.write(f"{'SOURCE':<{width}}  {'LAST EVENT':<12} {'EVENTS':>7} {'RECONN':>6}  STATE\n")
        for s in sources:
            out.write(
                f"{s['source']:<{width}}  {s['last_event']:<12} {s['delivered']:>7} {s['reconnects']:>6}  "
                f"{s['summary']}\n"
            )
    out.write(f"\n{report['mentions']} mentions stored; {report['quarantined']} items in quarantine")
    out.write(" (see `earful quarantine`)\n" if report["quarantined"] else "\n")


def export_mentions(store: Store, out: IO[str], fmt: str) -> int:
    """Every stored mention to `out`: JSON lines (the whole record), or CSV in the report's mentions.csv columns,
    written by the same writer (UTF-8 with a BOM for Excel, every text cell formula-safe)."""
    with store.read() as session:
        if fmt == "csv":
            with mapped_reads(session):
                out.write(BOM)
                return write_mentions_csv(session, None, out)
        count = 0
        for row in iter_mentions(session=session):
            out.write(json_line(row) + "\n")
            count += 1
        return count


def listen(
    settings: Settings, store: Store, *, until_idle: float | None, worker: bool = False
) -> dict[str, Any]:
    """The configured collectors and the pipeline; with `until_idle`, stop after that many seconds without a
    new event (once the model is loaded). `worker`: no collectors, classify and store what the JetStream bus
    holds. Returns the run's figures."""
    from earful.pipeline import Pipeline

    if worker and settings.bus.kind != "jetstream":
        raise UserError(
            'earful worker consumes from NATS JetStream: set bus.kind = "jetstream" (and bus.url) in '
            "earful.toml or EARFUL_BUS__KIND=jetstream; with the default in-process bus, `earful serve` "
            "classifies by itself"
        )
    pipeline = Pipeline(settings, store, collectors=(lambda _p: []) if worker else None)
    started = time.monotonic()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        run = asyncio.create_task(pipeline.run(stop))
        if until_idle is not None:
            await _stop_when_idle(pipeline, until_idle, stop, run)
        await run

    asyncio.run(main())
    stats = pipeline.stats
    return {
        "received": stats.received,
        "stored": stats.stored,
        "duplicates": stats.duplicates,
        "rejected": stats.rejected,
        "seconds": round(time.monotonic() - started, 1),
        "last_error": stats.last_error,
    }


async def _stop_when_idle(pipeline: Any, idle: float, stop: asyncio.Event, run: asyncio.Task[None]) -> None:
    last_seen = (-1, -1)
    quiet_since = time.monotonic()
    while not stop.is_set() and not run.done():
        await asyncio.sleep(min(0.2, idle / 4))
        seen = (pipeline.stats.received, pipeline.stats.stored)
        # Idle counts only once the model is loaded and everything received has been stored.
        stats = pipeline.stats
        behind = stats.received > stats.stored + stats.duplicates + stats.rejected
        busy = not pipeline.ready.is_set() or seen != last_seen or behind
        if busy:
            last_seen, quiet_since = seen, time.monotonic()
        elif time.monotonic() - quiet_since >= idle:
            stop.set()
