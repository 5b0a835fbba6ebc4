"""What a source is, to the supervisor that runs it: one session at a time, typed failures, a context to report to.

A *source* is one feed of one network (X's filtered stream, a Mastodon hashtag stream, Bluesky's Jetstream, a
subreddit's comments). The supervisor (`listener.supervisor`) owns everything sources have in common:

- calling `session(ctx)` again after it ends, waiting as the network documents (`BackoffPolicy`), or as the
  server asked (`Retry-After`, a rate-limit reset);
- the stall watchdog: a source that has not called `ctx.alive()` for `stall_after` seconds is aborted and
  reconnected;
- reconciliation (`Reconciling`): a stream can stay open, keep-alives and all, and still drop posts, some or
  every one. Every `reconcile_every` seconds while a stream is live, and every `quiet_after` seconds while it
  has carried no event (`ctx.event()`) for that long, the supervisor calls the source's `reconcile(ctx)` on a
  thread of its own: the network's REST listing read forward from the stored cursor, as after a reconnect;
- thread context (`listener.context`): for a source that can fetch what its mentions reply to
  (`listener.context.Contextual`), a small queue and a thread of its own walk up each conversation so that a
  thread starts where it did, beside the session, never holding it up;
- the health each source shows on the desk and in `earful status`;
- stop.

A source owns only what is particular to its network: connecting, turning events into `NewMention`s,
backfilling (and reconciling) from its stored cursor, and raising the right `SourceError` when it fails.

The zero-loss rule every session keeps: *a cursor only moves over mentions that are all delivered.* Only a
complete read of a listing that holds everything (REST pages read forward from the cursor, delivered oldest
first; Jetstream's replayable log) passes `cursor=` to `ctx.deliver`. A live stream's events never do, even
after its backfill: a stream that drops one post and delivers the next would otherwise carry the cursor past
the dropped one, and no backfill would look behind it again. An event put aside, for whatever reason (it may be
earful's own bug), therefore never has the cursor moved past it by the stream; the next reconciliation reads
it again from the network's REST API. The store writes the cursor in the same transaction as the mention that
carries it, only ever forward, and dedupes on (network, native id), so a replay after a crash is harmless and a
gap can close only by being filled. Thread context never carries a cursor either: it is read by id, not forward
through a listing, so it says nothing of what came before it (`NewMention.context` drops one if set)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable

from listener.health import SourceState
from store.incoming import NewMention


class SourceError(Exception):
    """A session ended abnormally. The subclass picks how long the supervisor waits before the next one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectionLost(SourceError):
    """A network error, a read timeout, or the server closing mid-stream: retried soon (linear backoff)."""


class Refused(SourceError):
    """The server answered with an HTTP error (5xx, 4xx other than 429), or with something that is not the
    API (an HTML error page, even under 200): exponential backoff. `until`: the server's `Retry-After` (a 503
    usually says when to come back), epoch seconds; the next attempt waits for it instead."""

    def __init__(self, status: int, reason: str, *, until: float | None = None) -> None:
        named = f"HTTP {status}" in reason
        super().__init__(reason if named else f"HTTP {status}: {reason}" if reason else f"HTTP {status}")
        self.status = status
        self.until = until


class RateLimited(SourceError):
    """429, or a budget header said none is left. `until` is the reset time (epoch seconds) when the server
    gave one; without it the policy's `rate_limit_start` applies, doubling."""

    def __init__(self, reason: str, until: float | None = None) -> None:
        super().__init__(reason)
        self.until = until


class Fatal(SourceError):
    """Needs a person: bad credentials, a forbidden endpoint, an invalid configuration. Shown as an error and
    retried only every `fatal_retry` seconds (a rotated token or a fixed permission heals it without a
    restart)."""


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to wait before reconnecting, per kind of failure. Defaults are X's documented policy (as tweepy
    implements it); each network module declares its own."""

    network_step: float = 0.25  # ConnectionLost: +step per consecutive failure, up to network_max
    network_max: float = 16.0
    http_start: float = 5.0  # Refused: start, doubling up to http_max
    http_max: float = 320.0
    rate_limit_start: float = 60.0  # RateLimited without a reset time: start, doubling up to http_max
    fatal_retry: float = 300.0
    # A clean close by the server (a deploy, a load balancer) is reconnected after this long.
    clean_close: float = 0.0

    def scaled(self, factor: float) -> BackoffPolicy:
        """The same shape with every wait multiplied (tests use 0.001)."""
        return replace(self, **{f.name: getattr(self, f.name) * factor for f in fields(self)})


class Backoff:
    """The waits of one source: consecutive failures of a kind grow, a successful connect resets them."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def delay(self, error: SourceError | None, *, now: float) -> float:
        """Seconds to wait after `error` (None: the server closed the session cleanly)."""
        p = self.policy
        self.failures += 1
        n = self.failures
        if error is None:
            return p.clean_close
        if isinstance(error, RateLimited):
            if error.until is not None:
                # A second past the reset: reset times are whole seconds (less in tests' scaled policies).
                return max(0.0, error.until - now) + min(1.0, p.rate_limit_start)
            return min(p.rate_limit_start * 2 ** (n - 1), max(p.http_max, p.rate_limit_start))
        if isinstance(error, Fatal):
            return p.fatal_retry
        if isinstance(error, Refused):
            if error.until is not None and error.until > now:
                # The server said when: neither sooner (it would refuse again) nor later (it is back by then).
                return error.until - now + min(1.0, p.http_start)
            return min(p.http_start * 2 ** (n - 1), p.http_max)
        return min(p.network_step * n, p.network_max)


class SourceContext(Protocol):
    """What a running session may call. Every method is safe from the session's own thread."""

    network: str
    source: str
    stopping: threading.Event

    def cursor(self) -> str | None:
        """The newest position stored for this source (None: never run), read from the store each time."""
        ...

    def cursor_of(self, key: str) -> str | None:
        """Another stored cursor, for a source that serves several (X's one stream covers every brand)."""
        ...

    def deliver(self, mention: NewMention, cursor: str | None = None) -> None:
        """Hand a mention to the pipeline. With `cursor`, the source's cursor moves to it when the mention is
        stored (same transaction). Never raises for a bad mention; a stopped pipeline raises RuntimeError."""
        ...

    def put_aside(self, reason: str, raw: bytes) -> None:
        """Keep an event that could not be understood, with why; collection goes on."""
        ...

    def alive(self) -> None:
        """Bytes arrived (a post, a heartbeat, an empty poll answer): the watchdog's input."""
        ...

    def event(self) -> None:
        """A stream carried an event (a post, a status, any frame but a keep-alive), for a brand or not: what
        tells a quiet stream from one that only keeps its connection open. Implies `alive()`."""
        ...

    def state(self, state: SourceState, detail: str = "", *, until: float | None = None) -> None:
        """Report progress: CONNECTED, BACKFILLING, LIVE (streaming and caught up), POLLING, WARNING..."""
        ...

    def connected(self) -> None:
        """The connection is up and the server accepted it: resets the backoff."""
        ...

    def wait(self, seconds: float) -> bool:
        """Sleep (the injected sleep in tests); True when stop was asked meanwhile. The watchdog leaves a
        waiting source alone: a deliberate pause is not a dead connection."""
        ...

    def now(self) -> float:
        """Epoch seconds from the supervisor's clock (injected in tests)."""
        ...


class Source(Protocol):
    network: str
    # Unique across all sources; the cursor key and the health row's name, e.g. "mastodon:tag:acme".
    name: str
    policy: BackoffPolicy
    # Seconds of silence after which the connection is presumed dead: about twice the keep-alive interval
    # (X 20 s keep-alives -> 45 s), or a few poll intervals for a polling source.
    stall_after: float

    def session(self, ctx: SourceContext) -> None:
        """Connect, backfill from `ctx.cursor()`, then stream or poll until `ctx.stopping` is set (return) or
        the connection ends (raise a SourceError; return only for a clean close by the server)."""
        ...

    def abort(self) -> None:
        """Called from another thread (watchdog, stop): close the open connection so that `session` returns or
        raises ConnectionLost promptly. Must be safe to call at any time, also when nothing is open."""
        ...


@runtime_checkable
class Reconciling(Protocol):
    """A streaming source the supervisor keeps honest (module docstring): what it needs on top of `Source`."""

    # Seconds between reconciliations while the stream is live and carrying events.
    reconcile_every: float
    # Seconds without an event (keep-alives only) after which the stream counts as silent: reconciled at once,
    # and again every `quiet_after` while it stays silent. Longer than the network's normal quiet.
    quiet_after: float

    def reconcile(self, ctx: SourceContext) -> None:
        """Read the network's REST listing forward from the stored cursor(s) and deliver what is there, with
        cursors, oldest first (the session's own backfill code). Runs on the supervisor's reconcile thread,
        beside the session; `ctx` is a view whose `alive()` and `wait()` leave the stream's watchdog alone.
        Raises a SourceError when the network fails it (reported, retried at the next turn)."""
        ...


def budget_wait(
    ctx: SourceContext, headers: Mapping[str, str], *, remaining: str, reset: str, reserve: int = 0
) -> None:
    """Respect a rate-limit budget *before* the 429: when the `remaining` header says at most `reserve` calls
    are left, report RATE_LIMITED until the `reset` header's time (epoch seconds, or seconds-from-now when it is
    small, as Reddit sends it) and wait for it."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_remaining, raw_reset = lowered.get(remaining.lower()), lowered.get(reset.lower())
    if raw_remaining is None or raw_reset is None:
        return
    try:
        left = float(raw_remaining)
        reset_at = float(raw_reset)
    except ValueError:
        return
    if left > reserve:
        return
    now = ctx.now()
    until = reset_at if reset_at > 1e9 else now + reset_at
    if until <= now:
        return
    ctx.state(SourceState.RATE_LIMITED, f"{left:.0f} calls left", until=until)
    ctx.wait(until - now + 1)


def retry_after(headers: Mapping[str, str] | None, now: float) -> float | None:
    """When a `Retry-After` header says to come back (epoch seconds): delay-seconds or an HTTP-date
    (RFC 9110 10.2.3). None without one, or with one that is neither."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if text.isdigit():
        return now + float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # an obsolete date form without a zone: HTTP dates are GMT
        return None
    return moment.timestamp()


def answer_kind(content_type: str | None, body: bytes | str) -> str | None:
    """What an answer that should have been the API's JSON is instead ("an HTML page", "text/plain"), or None
    when it looks like JSON. A proxy, a CDN or a captive portal answers with a page, often under 200."""
    kind = (content_type or "").split(";")[0].strip().lower()
    head = (body[:200] if isinstance(body, str) else body[:200].decode("utf-8", "replace")).lstrip().lower()
    if "html" in kind or head.startswith(("<!doctype html", "<html", "<head", "<body")):
        return "an HTML page"
    if head.startswith(("{", "[")) or kind.endswith("json") or (not kind and not head):
        return None
    return kind or "something that is not JSON"


def not_the_api(network: str, status: int, what: str, *, until: float | None = None) -> Refused:
    """The Refused for an answer that is not the API's (`what`, from `answer_kind`): a server error, waited
    out with the HTTP backoff, never taken for a lost connection (which reconnects at once)."""
    return Refused(status, f"{network} answered {what} (HTTP {status}), not the API", until=until)
