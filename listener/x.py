"""X: the collector (filtered stream + recent-search backfill) and the reply sender.

Zero loss across disconnects rests on two rules:

1. On every (re)connect, before the stream's first line is read, each brand's stored cursor is captured and a
   backfill from it is queued: `search_recent_tweets(since_id=cursor)` returns what was posted meanwhile.
2. Until that backfill has finished, stream tweets are handed over *without* a cursor. Were a new stream tweet
   allowed to move the cursor first, the gap behind it would be skipped for good the moment the backfill
   failed or earful stopped; this way a gap can only close by being filled.

Duplicates between the stream and the backfill are harmless: the store is idempotent on (network, native id).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import tweepy

from listener.config import BrandSettings, XSettings
from listener.health import HealthCallback, Reporter, SourceState
from listener.transport import TimeoutSession, protect_logs, redirect
from listener.x_backfill import fetch_gap, since_id
from listener.x_normalise import (
    EXPANSIONS,
    NETWORK,
    TWEET_FIELDS,
    USER_FIELDS,
    Brands,
    Malformed,
    parse_stream_line,
)
from listener.x_rules import sync_rules, wanted_rules
from listener.x_sender import SendError, XSender
from listener.x_stream import Backoff, XStream
from store.incoming import NewMention

log = logging.getLogger(__name__)

__all__ = ["Backoff", "SendError", "XCollector", "XSender", "cursor_key"]

STREAM_SOURCE = "x:stream"


def cursor_key(brand: str) -> str:
    """The source cursor a brand's X mentions advance: the newest id stored with nothing missing before it."""
    return f"x:search:{brand}"


@dataclass
class _Job:
    epoch: int
    cursors: dict[str, str | None]


@dataclass
class CollectorStats:
    connects: int = 0
    lines: int = 0
    keep_alives: int = 0
    mentions: int = 0
    put_aside: int = 0
    backfills: int = 0
    backfilled: int = 0


class XCollector:
    def __init__(
        self,
        settings: XSettings,
        brands: list[BrandSettings],
        *,
        sink: Callable[[NewMention], None],
        put_aside: Callable[[str, str, str, bytes], None],
        get_cursor: Callable[[str], str | None],
        on_health: HealthCallback | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if settings.bearer_token is None or not settings.bearer_token.get_secret_value():
            raise ValueError("the X collector needs x.bearer_token (app-only auth for the stream and search)")
        self.settings = settings
        protect_logs(settings.bearer_token.get_secret_value())
        self.brands = Brands.of(brands)
        self._brand_list = list(brands)
        self._wanted = wanted_rules(brands)  # a brand whose terms cannot become rules fails here, at start
        self._sink = sink
        self._put_aside_cb = put_aside
        self._get_cursor = get_cursor
        self._report = Reporter(NETWORK, on_health)
        self.backoff = backoff or Backoff()
        self.stats = CollectorStats()
        self.last_activity = 0.0  # time.monotonic() of the last line or keep-alive: a watchdog's input
        self._stop = threading.Event()
        self._deliver_lock = threading.Lock()
        self._gap_lock = threading.Lock()
        self._epoch = 0
        self._gap_closed = False
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._stream: XStream | None = None
        self._search = self._client()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Collect until `stop()`: sync rules, stream, backfill after each connect. Blocks (own thread)."""
        if not self.settings.enabled:
            self._report(STREAM_SOURCE, SourceState.DISABLED)
            return
        self._report(STREAM_SOURCE, SourceState.STARTING)
        worker = threading.Thread(target=self._backfill_worker, name="x-backfill", daemon=True)
        worker.start()
        try:
            if self._sync_rules():
                stream = XStream(
                    self._token(),
                    events=_Events(self),
                    stop=self._stop,
                    backoff=self.backoff,
                    read_timeout=self.settings.read_timeout,
                )
                self._stream = redirect(stream, self.settings.base_url)
                if not self._stop.is_set():
                    stream.filter(expansions=EXPANSIONS, tweet_fields=TWEET_FIELDS, user_fields=USER_FIELDS)
        finally:
            self._stop.set()
            worker.join(timeout=5)
            self._report(STREAM_SOURCE, SourceState.STOPPED)

    def stop(self) -> None:
        """End `run()` promptly: wakes any backoff wait and cuts the open stream."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.disconnect()

    # -- rules -----------------------------------------------------------------------------------------------

    def _sync_rules(self) -> bool:
        client = redirect(
            _with_timeout(tweepy.StreamingClient(self._token(), return_type=dict)), self.settings.base_url
        )
        wait = self.backoff.http_start
        while not self._stop.is_set():
            try:
                result = sync_rules(client, self._wanted)
            except (tweepy.TweepyException, requests.RequestException) as exc:
                self._report(
                    STREAM_SOURCE, SourceState.RETRYING, f"could not sync stream rules: {_short(exc)}"
                )
                self._stop.wait(wait)
                wait = min(wait * 2, self.backoff.http_max)
                continue
            if result.errors:
                self._report(STREAM_SOURCE, SourceState.ERROR, "X refused rules: " + "; ".join(result.errors))
            elif result.added or result.deleted:
                log.info("X rules synced: %d added, %d deleted", len(result.added), len(result.deleted))
            return True
        return False

    # -- the stream (its own thread; nothing here may raise) -------------------------------------------------

    def _on_connect(self) -> None:
        self.stats.connects += 1
        self.last_activity = time.monotonic()
        # Captured now, before the first line of this connection is read: see the module docstring.
        cursors = {name: self._cursor(name) for name in self.brands.by_name}
        with self._gap_lock:
            self._epoch += 1
            self._gap_closed = False
            self._jobs.put(_Job(self._epoch, cursors))
        self._report(STREAM_SOURCE, SourceState.CONNECTED)

    def _on_line(self, line: bytes) -> None:
        self.stats.lines += 1
        self.last_activity = time.monotonic()
        try:
            parsed = parse_stream_line(line, self.brands, max_bytes=self.settings.max_line_bytes)
        except Malformed as exc:
            self._quarantine(STREAM_SOURCE, exc.reason, line)
            return
        except Exception as exc:  # a bug of ours must not end the stream either
            log.exception("could not parse an X stream line")
            self._quarantine(
                STREAM_SOURCE, f"unexpected {type(exc).__name__} while parsing: {_short(exc)}", line
            )
            return
        if parsed.errors:
            self._report(STREAM_SOURCE, SourceState.WARNING, f"X sent errors: {_short(parsed.errors)}")
        mention = parsed.mention
        if mention is None:
            return
        with self._gap_lock:
            if self._gap_closed:
                mention.source, mention.cursor = cursor_key(mention.brand), mention.native_id
        if not self._deliver(mention):
            self._reopen_gap()

    # -- backfill (its own thread) ---------------------------------------------------------------------------

    def _backfill_worker(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            wait = self.backoff.network_step or 0.25
            while not self._stop.is_set():
                job = self._newest(job)
                try:
                    self._backfill(job)
                    break
                except Exception as exc:
                    if self._stop.is_set():
                        return
                    delay = min(_retry_after(exc) or wait, self.backoff.http_max)
                    self._report(STREAM_SOURCE, SourceState.RETRYING, f"backfill failed: {_short(exc)}")
                    self._wait_for_retry(delay)
                    wait = min(wait * 2, self.backoff.network_max)

    def _wait_for_retry(self, seconds: float) -> None:
        """Sleep before retrying a backfill, unless stopping or a newer job (a new connection) comes first."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and self._jobs.empty():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._stop.wait(min(left, 0.1))

    def _newest(self, job: _Job) -> _Job:
        """A later job's cursors are no newer than an earlier one's (the gap is open), so it covers both."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return job

    def _backfill(self, job: _Job) -> None:
        self.stats.backfills += 1
        self._report(STREAM_SOURCE, SourceState.BACKFILLING)
        total = 0
        for brand in self._brand_list:
            total += self._backfill_brand(brand, job.cursors.get(brand.name))
        with self._gap_lock:
            current = job.epoch == self._epoch
            if current:
                self._gap_closed = True
        self.stats.backfilled += total
        state = SourceState.LIVE if current else SourceState.BACKFILLING
        self._report(STREAM_SOURCE, state, f"backfilled {total} tweets")

    def _backfill_brand(self, brand: BrandSettings, cursor: str | None) -> int:
        source = cursor_key(brand.name)
        gap = fetch_gap(
            self._search,
            brand,
            self.brands,
            since=since_id(cursor, self.settings.backfill_rewind_seconds),
            source=source,
            max_pages=self.settings.gap_max_pages if cursor else self.settings.backfill_max_pages,
            stop=self._stop,
            quarantine=self._quarantine,
        )
        if gap.too_old:
            self._report(
                source,
                SourceState.WARNING,
                "the cursor is older than X's 7-day search; gap filled as far back as X allows",
            )
        if gap.truncated and cursor:
            self._report(
                source,
                SourceState.ERROR,
                "backfill ran out of pages; the oldest tweets of the gap "
                "were not fetched (raise x.gap_max_pages)",
            )
        for mention in gap.mentions:
            if self._stop.is_set():
                raise InterruptedError("stopping")
            if not self._deliver(mention):
                raise RuntimeError("the sink refused a backfilled mention")
        return len(gap.mentions)

    # -- hand-over -------------------------------------------------------------------------------------------

    def _deliver(self, mention: NewMention) -> bool:
        with self._deliver_lock:
            try:
                self._sink(mention)
            except Exception as exc:
                log.exception("the sink refused an X mention")
                self._report(
                    STREAM_SOURCE,
                    SourceState.ERROR,
                    f"could not hand over tweet {mention.native_id}: {_short(exc)}",
                )
                return False
        self.stats.mentions += 1
        return True

    def _reopen_gap(self) -> None:
        """A stream tweet was lost on our side: hold the cursor again and let a backfill fetch it back."""
        cursors = {name: self._cursor(name) for name in self.brands.by_name}
        with self._gap_lock:
            self._gap_closed = False
            self._epoch += 1
            self._jobs.put(_Job(self._epoch, cursors))

    def _quarantine(self, source: str, reason: str, raw: bytes) -> None:
        self.stats.put_aside += 1
        log.warning("X: put aside a line from %s: %s", source, reason)
        with self._deliver_lock:
            try:
                self._put_aside_cb(NETWORK, source, reason, raw)
            except Exception:
                log.exception("could not put aside a malformed X line")

    def _cursor(self, brand: str) -> str | None:
        try:
            return self._get_cursor(cursor_key(brand))
        except Exception:
            # Without a cursor the backfill looks back as far as a first start would: more duplicates, no
            # loss.
            log.exception("could not read the cursor of %s", cursor_key(brand))
            return None

    def _token(self) -> str:
        assert self.settings.bearer_token is not None
        return self.settings.bearer_token.get_secret_value()

    def _client(self) -> tweepy.Client:
        client = tweepy.Client(bearer_token=self._token(), return_type=dict)
        return redirect(_with_timeout(client), self.settings.base_url)


def _with_timeout(client: Any, seconds: float = 30.0) -> Any:
    # tweepy's REST calls pass no timeout: a server that never answers would hang a backfill for good.
    client.session = TimeoutSession(seconds)
    return client


class _Events:
    """The stream's callbacks, routed to the collector."""

    def __init__(self, collector: XCollector) -> None:
        self.collector = collector

    def on_connect(self) -> None:
        self.collector._on_connect()

    def on_line(self, line: bytes) -> None:
        self.collector._on_line(line)

    def on_keep_alive(self) -> None:
        self.collector.stats.keep_alives += 1
        self.collector.last_activity = time.monotonic()

    def on_refused(self, status: int, detail: str) -> None:
        state = SourceState.ERROR if status in (401, 403) else SourceState.RETRYING
        self.collector._report(STREAM_SOURCE, state, f"X refused the stream: {status} {detail}".strip())

    def on_connection_error(self, error: str) -> None:
        self.collector._report(STREAM_SOURCE, SourceState.RETRYING, f"stream connection lost: {error}")

    def on_closed(self) -> None:
        self.collector._report(STREAM_SOURCE, SourceState.RETRYING, "X closed the stream; reconnecting")


def _retry_after(exc: BaseException) -> float | None:
    reset = getattr(exc, "reset_time", None)
    if isinstance(exc, tweepy.TooManyRequests) and isinstance(reset, int):
        return float(min(900, max(1, reset - int(time.time()) + 1)))
    return None


def _short(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:300]
