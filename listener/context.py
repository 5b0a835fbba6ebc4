"""Thread context: the posts a mention replies to, fetched so that a thread starts where its conversation did.

A customer's first post often names nothing a brand's terms match ("my order never arrived, order 1234"); the
brand answers it, and only the customer's next reply names the brand. Collected as matched, that thread would
start with the brand's own reply. Every network says what a post replies to and serves that post by its id, so
once a mention is handed over, its source's fetcher asks for what it replies to, and what that replies to, up
to the root or `context_limit` posts, and delivers each as a mention of the same conversation
(`NewMention.context`: classified and stored in the thread like any post, but history, which never alerts and
never reopens or re-times the thread; see store.mention_rows).

The rules it keeps:

- The stream never waits for it: one small queue and one thread per source, started by the first mention that
  replies to something. A full queue gives up the oldest request, once said: the mentions are delivered
  already, their context is the extra.
- Only what is not stored yet: a walk stops at the first post the store has (`known`), or that a session or a
  walk delivered lately.
- No cursor moves (listener/source.py's rule): context is read by id, never forward through a listing.
- The network's rate limits: the source's own budget (X's per-endpoint windows, the `ratelimit-*` and
  `x-ratelimit-*` headers) is respected before each call, and a `RateLimited` answer is waited out here, on
  this thread; the source's health says so once, the stream's own state stays what it is.
- A post that cannot be read (deleted, protected, suspended, blocked: `Gone`) ends its walk; health says so
  once and the thread starts at what could be read. Any other failure is retried a few times, then given up,
  once said.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from listener.health import SourceState, printable
from listener.source import Backoff, Fatal, RateLimited, Source, SourceContext, SourceError
from store.incoming import NewMention

if TYPE_CHECKING:
    from listener.supervisor import Runner

log = logging.getLogger(__name__)

# (network, native ids) -> the ids among them the store already has.
Known = Callable[[str, Sequence[str]], set[str]]

# Mentions waiting for their context, per source: minutes of a busy brand's replies while a budget refills.
QUEUE_SIZE = 500
# Failures of one walk (other than a rate limit, which is waited out) before it is given up.
ATTEMPTS = 3
NOTE = "thread context: "


class Gone(Exception):
    """The network says the post is not there for us: deleted, protected, suspended, blocked."""

    def __init__(self, native_id: str, reason: str) -> None:
        super().__init__(reason)
        self.native_id = native_id
        self.reason = reason


@runtime_checkable
class Contextual(Protocol):
    """A source that can fetch what its mentions reply to: what it needs on top of `Source`."""

    # The most posts fetched above one mention (0: none).
    context_limit: int

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        """The posts above `mention` in its conversation, nearest first, each as a mention for `mention`'s
        brand (the fetcher files it under `mention`'s conversation, as context). A call to the network is made
        only when the next post is asked for. Raises `Gone` when the next one up cannot be read, a
        `SourceError` when the network fails a call. Runs on the fetcher's thread, with a client of its own."""
        ...


class Memory:
    """Posts delivered as context (or known to be gone) lately, shared by every source of a supervisor: one
    conversation's replies arrive on several sources, and their walks meet."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._add(key)

    def claim(self, key: tuple[str, str]) -> bool:
        """Take `key` for one walk to fetch: False when another walk has it, or had it (two sources hear the
        same reply; one lookup is enough)."""
        with self._lock:
            if key in self._items:
                return False
            self._add(key)
            return True

    def release(self, key: tuple[str, str]) -> None:
        """A claimed fetch failed and will be retried: any walk may take it again."""
        with self._lock:
            self._items.pop(key, None)

    def _add(self, key: tuple[str, str]) -> None:
        self._items[key] = None
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items


@dataclass
class _Walk:
    mention: NewMention  # what brought the conversation in: its brand and conversation id
    current: NewMention  # where the walk stands: the mention, or the last post delivered above it
    fetched: int = 0
    failures: int = 0


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


class ContextFetcher:
    """One source's walks up its mentions' conversations, on a thread of its own."""

    def __init__(
        self,
        runner: Runner,
        source: Contextual,
        *,
        memory: Memory,
        known: Known | None,
        sleep: Callable[[float], None] | None,
    ) -> None:
        self.runner = runner
        self.src = source
        self.limit = source.context_limit
        self.memory = memory
        self._known = known
        self._sleep = sleep
        self._queue: deque[_Walk] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self.view = ContextView(self)
        # Over the source's life, for health and tests.
        self.walked = 0
        self.delivered = 0
        self.gone = 0
        self.given_up = 0

    # -- the session's side (any thread) ----------------------------------------------------------------------

    def offer(self, mention: NewMention) -> None:
        """A mention was handed over: fetch what it replies to, unless that is known to be delivered."""
        parent = mention.reply_to_native_id
        if mention.context or parent is None or self._delivered_lately(mention.network, parent):
            return
        with self._ready:
            if len(self._queue) >= QUEUE_SIZE:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(_Walk(mention, mention))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"earful-context-{self.runner.source}", daemon=True
                )
                self._thread.start()
            self._ready.notify()

    def wake(self) -> None:
        """Stop was asked: end the thread's wait for work."""
        with self._ready:
            self._ready.notify_all()

    def join(self, timeout: float) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    @property
    def waiting(self) -> int:
        with self._ready:
            return len(self._queue)

    # -- the fetcher's thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = self.runner.stopping
        while not stopping.is_set():
            with self._ready:
                while not self._queue and not stopping.is_set():
                    self._ready.wait(1.0)
                if stopping.is_set():
                    return
                walk = self._queue.popleft()
                dropped, self._dropped = self._dropped, 0
            if dropped:
                self.note(
                    f"{dropped} mention(s) waited too long behind {QUEUE_SIZE} others; "
                    "their threads start at the mention"
                )
            try:
                self._walk(walk)
            except Exception as exc:  # a bug in one network's lookup must not end the fetcher
                self.runner.unexpected(exc, "fetching thread context")
                self.given_up += 1
            finally:
                self.walked += 1

    def _walk(self, walk: _Walk) -> None:
        network = walk.mention.network
        posts: Iterator[NewMention] | None = None
        claimed: tuple[str, str] | None = None
        try:
            while walk.fetched < self.limit and not self.runner.stopping.is_set():
                parent = walk.current.reply_to_native_id
                if parent is None or self._have(network, parent):
                    return
                claimed = (network, parent)
                if not self.memory.claim(claimed):
                    return  # another walk fetches it, and what is above it
                if posts is None:
                    posts = iter(self.src.ancestors(self.view, walk.current))
                post = next(posts, None)
                if post is None or not self._deliver(walk, post):
                    self.memory.release(claimed)
                    return
                claimed = None
        except Gone as exc:
            self.gone += 1
            self.memory.add((network, exc.native_id))  # the next walk that meets it stops there, silently
            self.note(f"{exc.reason}; its thread starts at what could be read")
        except SourceError as exc:
            if claimed is not None:
                self.memory.release(claimed)
            self._failed(walk, exc)
        except Exception:
            if claimed is not None:
                self.memory.release(claimed)
            raise
        finally:
            close = getattr(posts, "close", None)
            if callable(close):
                close()

    def _deliver(self, walk: _Walk, post: NewMention) -> bool:
        """Hand one post over as context of `walk`'s conversation; False when the pipeline is stopping."""
        mention = walk.mention
        context = post.model_copy(
            update={
                "context": True,
                "conversation_id": mention.conversation_id,
                "brand": mention.brand,
                "source": None,
                "cursor": None,
            }
        )
        try:
            self.runner.hand_over_context(context)
        except RuntimeError:
            return False  # the pipeline stopped: so does this walk
        except SourceError as exc:  # the store or bus is down: the walk waits and tries again
            self._failed(walk, exc)
            return False
        self.memory.add((post.network, post.native_id))
        self.delivered += 1
        walk.current = post
        walk.fetched += 1
        return True

    def _failed(self, walk: _Walk, error: SourceError) -> None:
        """Wait out a rate limit and go on; retry another failure a few times, then give the walk up."""
        now = self.runner.now()
        if isinstance(error, RateLimited):
            backoff = Backoff(self.runner.src.policy)
            delay = backoff.delay(error, now=now)
            waiting = self.waiting
            queued = f" ({waiting} more waiting)" if waiting else ""
            self.note(f"waiting for the rate limit until {_at(now + delay)}{queued}")
            self._requeue(walk, front=True)
            if not self.wait(delay):
                self.clear_note()
            return
        walk.failures += 1
        if isinstance(error, Fatal) or walk.failures >= ATTEMPTS:
            self.given_up += 1
            what = walk.current.reply_to_native_id
            self.note(f"gave up on {what} ({error.reason}); its thread starts at what could be read")
            return
        backoff = Backoff(self.runner.src.policy)
        backoff.failures = walk.failures - 1
        self._requeue(walk, front=False)
        self.wait(backoff.delay(error, now=now))

    def _requeue(self, walk: _Walk, *, front: bool) -> None:
        with self._ready:
            if front:
                self._queue.appendleft(walk)
            else:
                self._queue.append(walk)

    def _have(self, network: str, native_id: str) -> bool:
        """Delivered lately by a walk or a session, or stored: the rest of the conversation is known."""
        if self._delivered_lately(network, native_id):
            return True
        if self._known is None:
            return False
        try:
            return native_id in self._known(network, [native_id])
        except Exception as exc:  # the store is down: fetch anyway, the store drops what it has
            log.debug("%s: could not ask the store about %s: %s", self.runner.source, native_id, exc)
            return False

    def _delivered_lately(self, network: str, native_id: str) -> bool:
        key = (network, native_id)
        return key in self.memory or self.runner.seen.by_session(key)

    # -- health -----------------------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """Say it on the source's health, after what its state says already (that stays)."""
        r = self.runner
        base = self._without_note(r.health_detail)
        detail = f"{base}; {NOTE}{text}" if base else NOTE + text
        r.state(r.health_state, detail, until=r.health_until)

    def clear_note(self) -> None:
        r = self.runner
        if NOTE in r.health_detail:
            r.state(r.health_state, self._without_note(r.health_detail), until=r.health_until)

    @staticmethod
    def _without_note(detail: str) -> str:
        return detail.split(NOTE, 1)[0].removesuffix("; ").rstrip()

    def wait(self, seconds: float) -> bool:
        """Sleep on this thread (the injected sleep in tests); True when stop was asked meanwhile."""
        if seconds > 0:
            if self._sleep is not None:
                self._sleep(seconds)
            else:
                self.runner.stopping.wait(seconds)
        return self.runner.stopping.is_set()


class ContextView:
    """The `SourceContext` a walk gets: the runner's, except that its calls are no sign of the stream's life,
    its waits are the fetcher's own, and a budget wait is a note on the source's health, not its state."""

    def __init__(self, fetcher: ContextFetcher) -> None:
        self.fetcher = fetcher
        runner = fetcher.runner
        self.runner = runner
        self.network = runner.network
        self.source = runner.source
        self.stopping = runner.stopping

    def cursor(self) -> str | None:
        return self.runner.cursor()

    def cursor_of(self, key: str) -> str | None:
        return self.runner.cursor_of(key)

    def deliver(self, mention: NewMention, cursor: str | None = None) -> None:
        raise RuntimeError("thread context is yielded by `ancestors`, not delivered")

    def put_aside(self, reason: str, raw: bytes) -> None:
        self.runner.put_aside(f"{NOTE}{reason}", raw)

    def alive(self) -> None:
        """A lookup's answer says nothing about the stream."""

    def event(self) -> None:
        """Nor does a post fetched by id."""

    def state(self, state: SourceState, detail: str = "", *, until: float | None = None) -> None:
        if state == SourceState.RATE_LIMITED:
            when = f" until {_at(until)}" if until is not None else ""
            self.fetcher.note(f"waiting for the rate limit{when} ({printable(detail, 200)})")
        elif state in (SourceState.WARNING, SourceState.ERROR):
            self.fetcher.note(printable(detail, 300))
        # The session's progress states (connected, live...) are not a walk's to report.

    def connected(self) -> None:
        """The stream's backoff is the session's business."""

    def wait(self, seconds: float) -> bool:
        ended = self.fetcher.wait(seconds)
        if not ended:
            self.fetcher.clear_note()
        return ended

    def now(self) -> float:
        return self.runner.now()


def fetcher_for(
    runner: Runner,
    source: Source,
    *,
    memory: Memory,
    known: Known | None,
    sleep: Callable[[float], None] | None,
) -> ContextFetcher | None:
    """The source's fetcher, or None when it fetches no context (a network without, or turned off)."""
    if not isinstance(source, Contextual) or source.context_limit <= 0:
        return None
    return ContextFetcher(runner, source, memory=memory, known=known, sleep=sleep)
