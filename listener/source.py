"""What a source is, to the supervisor that runs it: one session at a time, typed failures, a context to report to.

A *source* is one feed of one network (X's filtered stream, a Mastodon hashtag stream, Bluesky's Jetstream, a
subreddit's comments). The supervisor (`listener.supervisor`) owns everything sources have in common:

- calling `session(ctx)` again after it ends, waiting as the network documents (`BackoffPolicy`);
- the stall watchdog: a source that has not called `ctx.alive()` for `stall_after` seconds is aborted and
  reconnected;
- the health each source shows on the desk and in `earful status`;
- stop.

A source owns only what is particular to its network: connecting, turning events into `NewMention`s,
backfilling from its stored cursor after every (re)connect, and raising the right `SourceError` when it fails.

The zero-loss rule every session keeps: *a cursor only moves over mentions that are all delivered.* Backfill from
`ctx.cursor()` first (or concurrently with the stream, delivering stream mentions without a cursor until the
backfill has caught up); pass `cursor=` to `ctx.deliver` only when nothing older than that cursor can still be
missing. The store writes the cursor in the same transaction as the mention that carries it, and dedupes on
(network, native id), so a replay after a crash is harmless and a gap can close only by being filled.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Protocol

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
    """The server answered the connect with an HTTP error (5xx, 4xx other than 429): exponential backoff."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}" if reason else f"HTTP {status}")
        self.status = status


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
