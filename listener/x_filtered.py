"""X's filtered stream as a supervised source: rules, one connection, and the backfill that closes each gap.

Zero loss rests on three rules:

1. On every (re)connect, before the stream's first line is read, each brand's stored cursor is captured and a
   backfill from it starts: `search_recent_tweets(since_id=cursor)` returns what was posted meanwhile.
2. Stream tweets are handed over *without* a cursor, always. A stream can drop a tweet and deliver the next
   (or keep sending keep-alives and nothing else); were a stream tweet allowed to move the cursor, the dropped
   one behind it would be skipped for good. Only recent search, read forward from the cursor, moves it.
3. The supervisor reconciles (`reconcile`): the same search from each brand's cursor every
   `x.reconcile_seconds` while the stream is live, and every `x.quiet_seconds` while it is silent.

Duplicates between the stream, the backfill and reconciliation are harmless: the store is idempotent on
(network, native id). Each brand has its own cursor, `x:search:<brand>`, shared with polling mode's searches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from listener.config import BrandSettings, XSettings
from listener.health import SourceState, printable
from listener.source import Backoff, BackoffPolicy, ConnectionLost, RateLimited, SourceContext, SourceError
from listener.transport import redirect
from listener.x_api import Budgets, rest_client, rules_client, short, sliced_wait, source_error, token
from listener.x_backfill import Stopped, fetch_gap, since_id
from listener.x_context import XContext
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
from listener.x_stream import XStream
from store.incoming import NewMention

log = logging.getLogger(__name__)

STREAM_SOURCE = "x:stream"


def cursor_key(brand: str) -> str:
    """The source cursor a brand's X mentions advance: the newest id stored with nothing missing before it."""
    return f"x:search:{brand}"


def cursor_of(ctx: SourceContext, key: str) -> str | None:
    """The stored cursor under `key`. The stream serves every brand, each with its own cursor, so it reads
    cursors by key rather than its own (`ctx.cursor()`)."""
    return ctx.cursor_of(key)


@dataclass
class StreamStats:
    connects: int = 0
    lines: int = 0
    keep_alives: int = 0
    mentions: int = 0
    put_aside: int = 0
    backfills: int = 0
    backfilled: int = 0


class XStreamSource:
    """The filtered stream of every brand's rules, one connection per session."""

    network = NETWORK

    def __init__(
        self,
        settings: XSettings,
        brands: list[BrandSettings],
        *,
        policy: BackoffPolicy,
        budgets: Budgets | None = None,
    ) -> None:
        self.settings = settings
        self.name = STREAM_SOURCE
        self.policy = policy
        self.stall_after = settings.stall_seconds
        self.brand_list = list(brands)
        self.brands = Brands.of(self.brand_list)
        self.wanted = wanted_rules(self.brand_list)  # a brand whose terms cannot become rules fails at start
        self.budgets = budgets or Budgets()
        self.token = token(settings)
        self.rules = rules_client(settings, self.budgets)
        self.search = rest_client(settings, self.budgets)
        self.stats = StreamStats()
        self.reconcile_every = settings.reconcile_seconds
        self.quiet_after = settings.quiet_seconds
        self.context_limit = settings.thread_context
        self._context = XContext(
            settings, self.brands, self.budgets, margin=min(1.0, policy.rate_limit_start)
        )
        # The stream, its backfill and reconciliation deliver from three threads; the pipeline takes one at a time.
        self.deliver_lock = threading.Lock()
        self._lock = threading.Lock()
        self._current: _Session | None = None

    def session(self, ctx: SourceContext) -> None:
        run = _Session(self, ctx)
        with self._lock:
            self._current = run
        try:
            run.run()
        finally:
            with self._lock:
                self._current = None

    def abort(self) -> None:
        with self._lock:
            run = self._current
        if run is not None:
            run.abort()

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        """What the mention replies to, up the conversation (listener/x_context.py)."""
        return self._context.ancestors(ctx, mention)

    def reconcile(self, ctx: SourceContext) -> None:
        """Each brand's recent search from its stored cursor, delivered with cursors (the supervisor's turn)."""
        margin = min(1.0, self.policy.rate_limit_start)

        def pause() -> None:
            if self.budgets.pause(ctx, "search", wait=ctx.wait, margin=margin):
                raise Stopped

        for brand in self.brand_list:
            cursor = ctx.cursor_of(cursor_key(brand.name))
            try:
                gap = fetch_gap(
                    self.search,
                    brand,
                    self.brands,
                    since=since_id(cursor, self.settings.backfill_rewind_seconds),
                    source=cursor_key(brand.name),
                    max_pages=self.settings.gap_max_pages if cursor else self.settings.backfill_max_pages,
                    stop=ctx.stopping,
                    quarantine=lambda _source, reason, raw: ctx.put_aside(reason, raw),
                    before_call=pause,
                )
            except Stopped:
                return
            except Exception as exc:
                error = source_error(exc, "reconciliation search failed")
                if error is None:
                    raise
                raise error from None
            report_gap(
                ctx,
                brand.name,
                too_old=gap.too_old,
                truncated=gap.truncated and cursor is not None,
                what="reconciliation",
            )
            for mention in gap.mentions:
                if ctx.stopping.is_set():
                    return
                with self.deliver_lock:
                    ctx.deliver(mention)


class _Session:
    """One connection's life: what it received, whether its gap is closed, and its backfill thread."""

    def __init__(self, source: XStreamSource, ctx: SourceContext) -> None:
        self.src = source
        self.ctx = ctx
        self.settings = source.settings
        # Set when the session ends for any reason (closed, aborted, stopping): ends the backfill and its waits.
        self.ended = threading.Event()
        self.aborted = False
        self.received = False
        self.gap_closed = False
        self.rule_problem = ""
        self.warned = False
        self._gap_lock = threading.Lock()
        self._stream: XStream | None = None
        self._backfill: threading.Thread | None = None

    def abort(self) -> None:
        self.aborted = True
        self.ended.set()
        stream = self._stream
        if stream is not None:
            stream.disconnect()

    def run(self) -> None:
        ctx = self.ctx
        self._sync_rules()
        stream = redirect(
            XStream(self.src.token, events=self, read_timeout=self.settings.read_timeout, clock=ctx.now),
            self.settings.base_url,
        )
        self._stream = stream
        if self.aborted or ctx.stopping.is_set():
            stream.disconnect()
        try:
            stream.filter(expansions=EXPANSIONS, tweet_fields=TWEET_FIELDS, user_fields=USER_FIELDS)
        finally:
            self.ended.set()
            stream.disconnect()
            if self._backfill is not None:
                self._backfill.join(timeout=5)
        if ctx.stopping.is_set():
            return
        if self.aborted:
            raise ConnectionLost("the stream was cut")
        if not self.received:
            raise ConnectionLost("X closed the stream before sending anything")
        # A clean close by X (a deploy, an operational disconnect): the supervisor reconnects at once.

    # -- rules -----------------------------------------------------------------------------------------------

    def _sync_rules(self) -> None:
        try:
            result = sync_rules(self.src.rules, self.src.wanted, before_call=lambda: self._pause("rules"))
        except Stopped:
            raise ConnectionLost("ended while waiting for the rules budget") from None
        except Exception as exc:
            error = source_error(exc, "could not sync the stream rules")
            if error is None:
                raise
            raise error from None
        if result.errors:
            # The other rules still work: stream them, and keep the refusal on the desk (every later state
            # of this connection repeats it).
            self.rule_problem = "X refused rules: " + "; ".join(result.errors)
            self.ctx.state(SourceState.ERROR, self.rule_problem)
        elif result.added or result.deleted:
            log.info("X rules synced: %d added, %d deleted", len(result.added), len(result.deleted))

    def _pause(self, family: str) -> None:
        margin = min(1.0, self.src.policy.rate_limit_start)
        if self.src.budgets.pause(self.ctx, family, wait=self._wait, margin=margin):
            raise Stopped

    def _wait(self, seconds: float) -> bool:
        if self._stream is None:
            # Before the connection there is nothing for the watchdog to watch: the pause is no stall.
            slice_seconds = max(0.001, self.src.stall_after / 3)
            return sliced_wait(self.ctx, seconds, slice_seconds=slice_seconds, ended=self.ended)
        # The backfill's thread: the stream's keep-alives keep telling the watchdog how the connection is.
        return self.ended.wait(seconds)

    # -- the stream (the session's thread) -------------------------------------------------------------------

    def on_connect(self) -> None:
        self.src.stats.connects += 1
        self.ctx.connected()
        self.ctx.state(SourceState.CONNECTED)
        # Captured now, before the first line of this connection is read: see the module docstring.
        cursors = {brand.name: cursor_of(self.ctx, cursor_key(brand.name)) for brand in self.src.brand_list}
        self._backfill = threading.Thread(
            target=self._backfill_until_done, args=(cursors,), name="earful-x-backfill", daemon=True
        )
        self._backfill.start()

    def on_keep_alive(self) -> None:
        self.received = True
        self.src.stats.keep_alives += 1
        self.ctx.alive()

    def on_line(self, line: bytes) -> None:
        self.received = True
        self.src.stats.lines += 1
        self.ctx.event()
        try:
            parsed = parse_stream_line(line, self.src.brands, max_bytes=self.settings.max_line_bytes)
        except Malformed as exc:
            self._put_aside(exc.reason, line)
            return
        except Exception as exc:  # a bug of ours must not end the stream either
            log.exception("could not parse an X stream line")
            self._put_aside(f"unexpected {type(exc).__name__} while parsing: {short(exc)}", line)
            return
        if parsed.errors:
            self.warned = True
            self.ctx.state(SourceState.WARNING, f"X sent errors: {short(parsed.errors)}")
        mention = parsed.mention
        if mention is None:
            return
        # No cursor, ever (the module docstring's rule 2): only search moves it.
        with self._gap_lock:
            if self.gap_closed and self.warned:
                # X's errors line did not end the connection: tweets flow again, say so.
                self.warned = False
                self.ctx.state(SourceState.LIVE, "tweets flowing again after X's errors line")
        try:
            self._deliver(mention)
        except Exception as exc:
            # Ending the session reopens the gap: the next connection backfills from the unmoved cursor.
            raise ConnectionLost(f"could not hand over tweet {mention.native_id}: {short(exc)}") from None

    # -- backfill (its own thread, one per connection) -------------------------------------------------------

    def _backfill_until_done(self, cursors: dict[str, str | None]) -> None:
        backoff = Backoff(self.src.policy)
        while not self.ended.is_set():
            try:
                self._backfill_all(cursors)
                return
            except Stopped:
                return
            except Exception as exc:
                if self.ended.is_set():
                    return
                error = source_error(exc, "backfill failed")
                if error is None:
                    log.exception("the X backfill failed unexpectedly")
                    error = ConnectionLost(f"backfill failed: unexpected {type(exc).__name__}: {short(exc)}")
                self._report_retry(error, backoff)
            # A retry may start from cursors the failed attempt moved: they only move over delivered tweets.
            cursors = {name: cursor_of(self.ctx, cursor_key(name)) for name in cursors}

    def _report_retry(self, error: SourceError, backoff: Backoff) -> None:
        now = self.ctx.now()
        delay = backoff.delay(error, now=now)
        state = SourceState.RATE_LIMITED if isinstance(error, RateLimited) else SourceState.RETRYING
        self.ctx.state(state, error.reason, until=now + delay)
        self.ended.wait(delay)

    def _backfill_all(self, cursors: dict[str, str | None]) -> None:
        self.src.stats.backfills += 1
        self.ctx.state(SourceState.BACKFILLING)
        total = sum(self._backfill_brand(brand, cursors.get(brand.name)) for brand in self.src.brand_list)
        if self.ended.is_set():
            return
        with self._gap_lock:
            self.gap_closed = True
        self.src.stats.backfilled += total
        problem = f"; {self.rule_problem}" if self.rule_problem else ""
        self.ctx.state(SourceState.LIVE, f"backfilled {total} tweets{problem}")

    def _backfill_brand(self, brand: BrandSettings, cursor: str | None) -> int:
        source = cursor_key(brand.name)
        gap = fetch_gap(
            self.src.search,
            brand,
            self.src.brands,
            since=since_id(cursor, self.settings.backfill_rewind_seconds),
            source=source,
            max_pages=self.settings.gap_max_pages if cursor else self.settings.backfill_max_pages,
            stop=self.ended,
            quarantine=lambda _source, reason, raw: self._put_aside(reason, raw),
            before_call=lambda: self._pause("search"),
        )
        report_gap(self.ctx, brand.name, too_old=gap.too_old, truncated=gap.truncated and cursor is not None)
        for mention in gap.mentions:
            if self.ended.is_set():
                raise Stopped
            self._deliver(mention)
        return len(gap.mentions)

    # -- hand-over -------------------------------------------------------------------------------------------

    def _deliver(self, mention: NewMention) -> None:
        with self.src.deliver_lock:
            self.ctx.deliver(mention)
        self.src.stats.mentions += 1

    def _put_aside(self, reason: str, raw: bytes) -> None:
        self.src.stats.put_aside += 1
        log.warning("X: put aside an event: %s", printable(reason))
        with self.src.deliver_lock:
            self.ctx.put_aside(reason, raw)


def report_gap(
    ctx: SourceContext, name: str, *, too_old: bool, truncated: bool, what: str = "backfill"
) -> None:
    if too_old:
        ctx.state(
            SourceState.WARNING,
            f"{name}: the cursor is older than X's 7-day search; gap filled as far back as X allows",
        )
    if truncated:
        ctx.state(
            SourceState.ERROR,
            f"{name}: {what} ran out of pages; the oldest tweets of the gap were not fetched "
            "(raise x.gap_max_pages)",
        )
