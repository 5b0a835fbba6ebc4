"""What every Mastodon source shares: one session (stream first, then a REST backfill from the cursor), the
reconciliation the supervisor runs on a timer, the mapping of HTTP answers to SourceErrors, the rate-limit
budget, and turning one status into a mention.

The zero-loss rule of listener/source.py, as kept here: the stream is opened first, then the REST timeline is
read forward from the stored cursor (`min_id`, page after page until an empty one), each status moving the
cursor as it is delivered. Stream statuses are delivered at once but never with a cursor: a stream event put
aside (framing, JSON, or a bug of ours) or dropped by the server would otherwise be passed by the next status's
cursor and never read again. Reconciliation (`reconcile`, every `mastodon.reconcile_seconds`, or every
`mastodon.quiet_seconds` while a stream is silent) reads the timeline forward from the cursor once more."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mastodon import Mastodon, MastodonAPIError, MastodonError, MastodonNetworkError, MastodonRatelimitError

from listener.config import MastodonSettings
from listener.health import SourceState, printable
from listener.mastodon_context import Chains, walk_up
from listener.mastodon_normalise import (
    NETWORK,
    Audience,
    Conversations,
    Malformed,
    decode,
    id_or_none,
    id_order,
    parse_status,
    to_mention,
)
from listener.mastodon_stream import ConnectWatch, RecordingSession, SSEReader
from listener.parsing import raw_bytes
from listener.source import (
    BackoffPolicy,
    ConnectionLost,
    Fatal,
    RateLimited,
    Refused,
    SourceContext,
    SourceError,
    answer_kind,
    budget_wait,
    not_the_api,
    retry_after,
)
from store.incoming import NewMention

log = logging.getLogger(__name__)

MASTODON_POLICY = BackoffPolicy(
    network_step=5.0,
    network_max=60.0,
    http_start=5.0,
    http_max=300.0,
    rate_limit_start=60.0,
    fatal_retry=300.0,
    clean_close=1.0,
)
PAGE = 40  # Mastodon's largest page
REQUEST_TIMEOUT = 30.0
# Calls kept in hand when pausing for the budget's reset: a reply from the desk must still go out.
STREAM_JOIN_SECONDS = 5.0
BUDGET_RESERVE = 1
_IGNORED_EVENTS = {
    "delete",
    "status.update",
    "filters_changed",
    "announcement",
    "announcement.reaction",
    "announcement.delete",
    "conversation",
    "encrypted_message",
    "notifications_merged",
}


def client(settings: MastodonSettings, session: RecordingSession) -> Mastodon:
    token = settings.access_token.get_secret_value() if settings.access_token else None
    return Mastodon(
        access_token=token,
        api_base_url=settings.base_url,
        # Mastodon.py would sleep inside the call on a 429 ("wait"); the supervisor decides how long instead.
        ratelimit_method="throw",
        request_timeout=REQUEST_TIMEOUT,
        session=session,
        user_agent="earful (social listening desk)",
    )


def _epoch(value: str | None) -> float | None:
    """X-RateLimit-Reset as epoch seconds: Mastodon sends ISO 8601, some servers epoch seconds."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _short(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:300]


def refusal(status: int, headers: Any, body: str, what: str, *, now: float) -> SourceError:
    """The SourceError for an HTTP error answer. A Retry-After (429, 503) says when to come back."""
    until = retry_after(headers, now)
    kind = answer_kind(headers.get("Content-Type") if headers else None, body)
    if kind is not None and status not in (401, 403, 404, 429):
        return not_the_api(f"the {what}: Mastodon", status, kind, until=until)
    try:
        detail = str(json.loads(body).get("error") or "")
    except (ValueError, AttributeError):
        detail = kind or body.strip()[:200]
    if status == 429:
        if until is None:
            until = _epoch(headers.get("X-RateLimit-Reset")) if headers else None
        return RateLimited(f"Mastodon rate-limited the {what} (429)", until=until)
    if status in (401, 403):
        return Fatal(
            f"Mastodon refused the access token for the {what} ({status}: {detail or 'unauthorized'}); "
            "check mastodon.access_token and its scopes (read)"
        )
    if status == 404:
        return Fatal(f"Mastodon has no {what} at mastodon.base_url (404); check the base URL")
    return Refused(status, f"Mastodon refused the {what}: {detail}".rstrip(": "), until=until)


class MastodonSource:
    network = NETWORK
    policy = MASTODON_POLICY
    what = "stream"
    event = "update"  # the SSE event that carries this source's items
    also: frozenset[str] = frozenset()  # other events of its stream it takes (handed to `_item` the same way)

    def __init__(
        self, settings: MastodonSettings, audience: Audience, conversations: Conversations, name: str
    ) -> None:
        self.name = name
        self.settings = settings
        self.audience = audience
        self.conversations = conversations
        # Silence for the read timeout ends the read anyway; the watchdog catches what a read timeout cannot
        # (a connect or REST call hanging).
        self.stall_after = settings.read_timeout * 1.5
        self.reconcile_every = settings.reconcile_seconds
        self.quiet_after = settings.quiet_seconds
        self._http = RecordingSession()
        self.api = client(settings, self._http)
        self._lock = threading.Lock()
        self._deliver_lock = threading.Lock()
        self._aborted = False
        self._handle: Any = None
        self._reader: SSEReader | None = None
        self.fallback_brand: str | None = None
        self.context_limit = settings.thread_context
        # What each status's /context lookup (its conversation's root) answered: its thread context, fetched
        # once (listener/mastodon_context.py).
        self.chains = Chains()

    # -- what each kind of source says ------------------------------------------------------------------------

    def _open(self, reader: SSEReader) -> Any:
        raise NotImplementedError

    def _fetch(self, **bounds: str | None) -> list[dict[str, Any]]:
        """One REST page (original JSON, newest first)."""
        raise NotImplementedError

    def _item(self, item: dict[str, Any]) -> tuple[str, Any] | None:
        """(cursor, status) of a page item or stream payload; None to skip it. Raises Malformed."""
        raise NotImplementedError

    def _first_since(self, cursor: str) -> str:
        return cursor

    def _prepare(self, ctx: SourceContext) -> None:
        """Before the stream opens."""

    # -- Source -----------------------------------------------------------------------------------------------

    def session(self, ctx: SourceContext) -> None:
        with self._lock:
            self._aborted = False
        self._prepare(ctx)
        watch = ConnectWatch()
        reader = SSEReader(_StreamEvents(self, ctx), cancelled=lambda: self._aborted or ctx.stopping.is_set())
        self._http.stream_watch = watch.observe
        handle = self._open(reader)
        with self._lock:
            self._handle, self._reader = handle, reader
        try:
            if not self._await_connect(ctx, watch, reader):
                return
            ctx.connected()
            ctx.state(SourceState.BACKFILLING, "reading what was posted since the last cursor")
            count = self._backfill(ctx)
            if ctx.stopping.is_set():
                return
            ctx.state(SourceState.LIVE, f"caught up ({count} from the backfill)")
            while not reader.done.wait(0.1):
                if ctx.stopping.is_set():
                    return
            self._ended(ctx, reader)
        finally:
            self._close(handle, reader)

    def reconcile(self, ctx: SourceContext) -> None:
        """The timeline forward from the stored cursor, as the session's backfill (the supervisor's turn)."""
        self._backfill(ctx)

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            handle, reader = self._handle, self._reader
        if reader is not None:
            reader.shut_down()
        if handle is not None:
            try:
                handle.close()
            except Exception:  # closing a half-open response may raise; it is closed either way
                log.debug("closing the Mastodon stream raised", exc_info=True)

    # -- session steps ----------------------------------------------------------------------------------------

    def _await_connect(self, ctx: SourceContext, watch: ConnectWatch, reader: SSEReader) -> bool:
        """True once the stream is open; False when stopping. Raises what a refused connect means."""
        while not reader.opened.wait(0.05):
            if ctx.stopping.is_set():
                return False
            if self._aborted:
                raise ConnectionLost("the connect was aborted")
            if watch.answered.is_set() and watch.status != 200:
                if watch.status is not None:
                    raise refusal(watch.status, watch.headers, watch.body, self.what, now=ctx.now())
                raise ConnectionLost(f"could not reach Mastodon: {_short(watch.error)}")
            if watch.answered.is_set() and watch.status == 200:
                kind = answer_kind(watch.headers.get("Content-Type"), b"")
                if kind == "an HTML page":  # a proxy's page under 200: no stream, and no lost connection
                    raise not_the_api(f"the {self.what}: Mastodon", 200, kind)
            if not self._handle.is_alive():
                raise ConnectionLost("the stream thread ended before connecting")
        return True

    def _ended(self, ctx: SourceContext, reader: SSEReader) -> None:
        outcome = reader.outcome
        if self._aborted:
            raise ConnectionLost("the stream was closed by earful (aborted)")
        if outcome is None:
            log.info("%s: Mastodon closed the stream; reconnecting", self.name)
            return
        if isinstance(outcome, SourceError):
            raise outcome
        if isinstance(outcome, RuntimeError):
            raise ConnectionLost(f"could not hand a status over: {_short(outcome)}")
        raise ConnectionLost(f"stream connection lost: {type(outcome).__name__}: {_short(outcome)}")

    def _close(self, handle: Any, reader: SSEReader) -> None:
        with self._lock:
            self._handle = self._reader = None
        self._http.stream_watch = None
        reader.shut_down()
        try:
            handle.close()
        except Exception:
            log.debug("closing the Mastodon stream raised", exc_info=True)
        # Events are handled on Mastodon.py's own thread: wait for it, so no status is delivered (and no cursor
        # moves) after the session has returned, e.g. after a stop that a restart's backfill relies on.
        join = getattr(handle, "join", None)
        if callable(join):
            join(STREAM_JOIN_SECONDS)
            if handle.is_alive():
                log.warning("%s: the stream thread did not end within %ss", self.name, STREAM_JOIN_SECONDS)

    # -- backfill ---------------------------------------------------------------------------------------------

    def _backfill(self, ctx: SourceContext) -> int:
        cursor = ctx.cursor()
        count = 0
        if cursor is None:
            # First start: a bounded look back, delivered oldest first; then forward until caught up.
            items: list[dict[str, Any]] = []
            max_id: str | None = None
            for _ in range(self.settings.backfill_max_pages):
                page = self._page(ctx, max_id=max_id)
                if not page:
                    break
                items += page
                max_id = min((str(item.get("id")) for item in page), key=id_order)
            count, cursor = self._deliver_page(ctx, items)
            if cursor is None:
                return count
        since = self._first_since(cursor)
        while not ctx.stopping.is_set():
            page = self._page(ctx, min_id=since)
            if not page:
                break
            delivered, newest = self._deliver_page(ctx, page)
            count += delivered
            if newest is None:
                break  # a page without one readable id: asking after the same id again would loop
            since = newest
        return count

    def _page(self, ctx: SourceContext, **bounds: str | None) -> list[dict[str, Any]]:
        try:
            page = self._fetch(**bounds)
        except MastodonError as exc:
            raise self._rest_error(exc, f"{self.what} backfill", now=ctx.now()) from None
        ctx.alive()
        self.respect_budget(ctx)
        return page

    def respect_budget(self, ctx: SourceContext) -> None:
        """After a REST call: when its budget is nearly spent, wait for the reset (this thread's last answer)."""
        last = self._http.last()
        if last is not None:
            headers = {"remaining": last.headers.get("X-RateLimit-Remaining", "")}
            reset = _epoch(last.headers.get("X-RateLimit-Reset"))
            if reset is not None:
                headers["reset"] = str(reset)
            budget_wait(ctx, headers, remaining="remaining", reset="reset", reserve=BUDGET_RESERVE)

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        """What the mention replies to, up the conversation (listener/mastodon_context.py)."""
        return walk_up(self, ctx, mention)

    def _deliver_page(self, ctx: SourceContext, page: list[dict[str, Any]]) -> tuple[int, str | None]:
        """Deliver a page oldest first, each with its cursor. Returns (delivered, newest cursor)."""
        ordered = sorted(
            (item for item in page if isinstance(item, dict)), key=lambda item: id_order(str(item.get("id")))
        )
        count, newest = 0, None
        for item in ordered:
            if ctx.stopping.is_set():
                break
            # The next page starts after the newest: an id no server writes is no place to start from.
            newest = id_or_none(item.get("id")) or newest
            count += self.handle(ctx, item, raw_bytes(item), backfill=True)
        return count, newest

    def _rest_error(self, exc: MastodonError, what: str, *, now: float | None = None) -> SourceError:
        now = time.time() if now is None else now
        last = self._http.last()
        if isinstance(exc, MastodonRatelimitError) or (last is not None and last.status_code == 429):
            headers = last.headers if last is not None else {}
            until = retry_after(headers, now) or _epoch(headers.get("X-RateLimit-Reset"))
            return RateLimited(f"Mastodon rate-limited the {what} (429)", until=until)
        if isinstance(exc, MastodonNetworkError):
            return ConnectionLost(f"could not reach Mastodon for the {what}: {_short(exc)}")
        if isinstance(exc, MastodonAPIError) and len(exc.args) > 1 and isinstance(exc.args[1], int):
            return refusal(
                exc.args[1],
                last.headers if last is not None else {},
                last.text if last else "",
                what,
                now=now,
            )
        if last is not None and (kind := answer_kind(last.headers.get("Content-Type"), last.content)):
            # Mastodon.py could not parse a 2xx answer: a page from a proxy, not a lost connection.
            return not_the_api(
                f"the {what}: Mastodon", last.status_code, kind, until=retry_after(last.headers, now)
            )
        return ConnectionLost(f"the {what} failed: {_short(exc)}")

    # -- one item, from the stream or a page ------------------------------------------------------------------

    def handle(self, ctx: SourceContext, payload: Any, raw: bytes, *, backfill: bool) -> int:
        """Deliver one status (or notification) if it is for a brand. 1 when delivered. Never raises for bad
        data (it is put aside); raises SourceError when the server fails a lookup."""
        try:
            found = self._item(payload)
            if found is None:
                return 0
            cursor, status = found
            parsed = parse_status(status)
        except Malformed as exc:
            ctx.put_aside(f"{self.what}: {exc.reason}", raw)
            return 0
        if parsed is None:
            return 0
        brand, own = self.audience.brand_for(parsed, self.conversations.guess(parsed))
        brand = brand or self.fallback_brand
        if brand is None:
            return 0
        try:
            conversation = self.conversations.root_of(parsed, self._ancestors)
        except Malformed as exc:
            ctx.put_aside(f"{self.what}: context of {parsed.native_id}: {exc.reason}", raw)
            return 0
        try:
            mention = to_mention(parsed, conversation_id=conversation, brand=brand, is_own=own)
        except Malformed as exc:  # what the store's model refuses: this status's fault, not the stream's
            ctx.put_aside(f"{self.what}: {exc.reason}", raw)
            return 0
        with self._deliver_lock:
            # Never a stream status's cursor (the module docstring): only the REST pages move it.
            ctx.deliver(mention, cursor if backfill else None)
        return 1

    def _ancestors(self, status_id: str) -> list[dict[str, Any]]:
        try:
            self.api.status_context(status_id)
        except MastodonError as exc:
            last = self._http.last()
            if last is not None and last.status_code in (403, 404, 410):
                # Not visible to us (deleted, private, blocked): the thread starts at what we can see.
                return []
            raise self._rest_error(exc, "conversation lookup") from None
        last = self._http.last()
        body = decode(last.content, "the /context answer") if last is not None else {}
        ancestors = body.get("ancestors") if isinstance(body, dict) else None
        if not isinstance(ancestors, list):
            raise Malformed("the /context answer has no ancestors list")
        self.chains.keep(status_id, ancestors)
        return ancestors


def body_list(http: RecordingSession) -> list[dict[str, Any]]:
    last = http.last()
    try:
        body = decode(last.content, "the timeline page") if last is not None else []
    except Malformed as exc:
        raise ConnectionLost(f"Mastodon answered a timeline page earful cannot read: {exc.reason}") from None
    if not isinstance(body, list):
        raise ConnectionLost(f"Mastodon answered a timeline page with a {type(body).__name__}, not a list")
    return body


class _StreamEvents:
    """The reader's callbacks for one session, on the stream's own thread."""

    def __init__(self, source: MastodonSource, ctx: SourceContext) -> None:
        self.source = source
        self.ctx = ctx

    def on_bytes(self) -> None:
        self.ctx.alive()

    def on_malformed(self, reason: str, raw: bytes) -> None:
        self.ctx.event()
        log.warning("%s: put aside a malformed event: %s", self.source.name, printable(reason))
        self.ctx.put_aside(f"{self.source.what}: {reason}", raw)

    def on_event(self, name: str, data: str | None, raw: bytes) -> None:
        self.ctx.event()
        if name in _IGNORED_EVENTS:
            return
        if name != self.source.event and name not in self.source.also:
            log.warning("%s: Mastodon sent an unexpected %r event", self.source.name, name)
            self.on_malformed(f"an event earful does not expect here: {name!r}", raw)
            return
        try:
            payload = decode(data or "", f"{name} event data")
        except Malformed as exc:
            self.on_malformed(exc.reason, raw)
            return
        self.source.handle(self.ctx, payload, raw, backfill=False)
