"""Reddit: per subreddit, a comments source and a submissions source, run by the supervisor; and the sender.

Reddit has no stream: each source polls its listing (`/r/{sub}/comments`, `/r/{sub}/new`) through praw, and
every poll is a catch-up. It reads the newest page and, while the page's oldest item is still newer than
where it stands, the next older page (`after=`), until it reaches that position; then it hands over
everything new, oldest first, each mention carrying its own position as the cursor. So a cursor only moves
over items that were all examined, and a session that starts (first run, reconnect, restart) catches up from
the stored cursor the same way. (Not praw's stream generators: they dedupe with a 301-item set, page with
`before=`, which answers nothing once the anchor item is deleted, and end on any error.)

A position is the base36 id as a number (`cursor_of`): Reddit numbers each kind in creation order. Items
that show up late, below the position, while still on the newest page are handed over too (no cursor).

Posts a brand did not write and its terms do not match are not delivered, so the stored cursor moves only with
the brand's mentions: after a restart, the catch-up reads back to the last one (at most `max_pages` pages,
as far as Reddit's listings reach).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterator

import prawcore

from listener.config import BrandSettings, RedditSettings
from listener.health import SourceState, printable
from listener.reddit_client import RedditClient, source_error
from listener.reddit_context import RedditContext
from listener.reddit_normalise import (
    KINDS,
    NETWORK,
    ErrorBody,
    Item,
    Malformed,
    Page,
    RedditBrands,
    cursor_of,
    identify,
    parse_page,
    position_of,
    to_mention,
)
from listener.reddit_sender import RedditSender, SendError
from listener.source import (
    BackoffPolicy,
    ConnectionLost,
    Fatal,
    RateLimited,
    Refused,
    Source,
    SourceContext,
    SourceError,
    answer_kind,
    not_the_api,
    retry_after,
)
from store.errors import UserError
from store.incoming import NewMention

log = logging.getLogger(__name__)

__all__ = ["REDDIT_POLICY", "RedditSender", "RedditSource", "SendError", "build_sources", "cursor_key"]

# praw's documented waits: its streams back off with jitter up to about 16 s; prawcore retries a failed call
# after 0-2 s, then 2-4 s. A spent budget without a reset header waits a minute (Reddit's window is 10).
REDDIT_POLICY = BackoffPolicy(
    network_step=1.0,
    network_max=16.0,
    http_start=2.0,
    http_max=16.0,
    rate_limit_start=60.0,
    fatal_retry=300.0,
    clean_close=0.0,
)
# The sources of one app share its budget: keep a call or two for the others before pausing.
BUDGET_RESERVE = 2
_REMEMBERED = 5000


def cursor_key(which: str, subreddit: str) -> str:
    """The source (and cursor) name: `reddit:comments:<sub>` or `reddit:submissions:<sub>`."""
    return f"{NETWORK}:{which}:{subreddit.casefold()}"


def build_sources(
    settings: RedditSettings, brands: list[BrandSettings], *, policy: BackoffPolicy = REDDIT_POLICY
) -> list[Source]:
    """A comments and a submissions source for each configured subreddit (none when Reddit is disabled).
    `policy`: the waits between sessions (tests pass `REDDIT_POLICY.scaled(0.001)`)."""
    if not settings.enabled:
        return []
    if not settings.subreddits:
        raise UserError(
            "reddit is enabled but reddit.subreddits is empty: name the subreddits to listen to "
            "(e.g. EARFUL_REDDIT__SUBREDDITS='[\"acme\"]')"
        )
    if settings.client_id is None or settings.client_secret is None:
        raise UserError(
            "reddit is enabled but has no reddit.client_id and reddit.client_secret: create a 'script' app "
            "at https://www.reddit.com/prefs/apps and set them (EARFUL_REDDIT__CLIENT_ID, ...__CLIENT_SECRET)"
        )
    shared = RedditBrands(brands)  # a bad term fails here, at start, with its brand named
    kinds = [
        which for which, on in (("comments", settings.comments), ("submissions", settings.submissions)) if on
    ]
    return [
        RedditSource(settings, shared, subreddit, which, policy=policy)
        for subreddit in settings.subreddits
        for which in kinds
    ]


class RedditSource:
    network = NETWORK

    def __init__(
        self,
        settings: RedditSettings,
        brands: RedditBrands,
        subreddit: str,
        which: str,
        *,
        policy: BackoffPolicy = REDDIT_POLICY,
    ) -> None:
        if which not in KINDS:
            raise ValueError(f"which must be one of {', '.join(KINDS)}, not {which!r}")
        self.settings = settings
        self.brands = brands
        self.subreddit = subreddit
        self.which = which
        self.kind = KINDS[which]
        self.name = cursor_key(which, subreddit)
        self.policy = policy
        self.stall_after = settings.stall_seconds()
        self.path = f"/r/{subreddit}/comments/" if which == "comments" else f"/r/{subreddit}/new"
        self.what = f"r/{subreddit}"
        self._client: RedditClient | None = None
        # Everything up to here was examined and every mention in it handed over, in this process.
        self._examined: int | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._kept_aside: OrderedDict[bytes, None] = OrderedDict()
        self._shown: tuple[SourceState, str] | None = None
        self.context_limit = settings.thread_context
        self._context = RedditContext(settings, brands)

    # -- Source -----------------------------------------------------------------------------------------------

    def session(self, ctx: SourceContext) -> None:
        client = self._client
        if client is None or client.aborted:
            # A cut session's sockets are dead; a fresh client (and token) is cheaper than sorting them out.
            try:
                client = self._client = RedditClient(self.settings)
            except ValueError as exc:
                raise Fatal(str(exc)) from None
        self._shown = None
        stored = position_of(ctx.cursor())
        start = max((p for p in (stored, self._examined) if p is not None), default=None)
        if start is None:
            self._show(ctx, SourceState.BACKFILLING, "first run: reading the newest page")
        else:
            self._show(ctx, SourceState.BACKFILLING, f"catching up from {self.kind}_{_base36(start)}")
        try:
            self._follow(ctx, client, start)
        except _Stop:
            return

    def _follow(self, ctx: SourceContext, client: RedditClient, start: int | None) -> None:
        position = start
        primed = False  # a catch-up of this session has completed
        asked = False
        while not ctx.stopping.is_set():
            if asked and ctx.wait(self.settings.poll_seconds):
                return
            if client.aborted:
                raise ConnectionLost("aborted: no answer from Reddit in time")
            asked = True
            try:
                position = self._catch_up(ctx, client, position, first=not primed)
            except _Unreadable:
                continue  # kept aside; the next poll asks again
            primed = True
            if self._shown is None or self._shown[0] != SourceState.POLLING:
                self._show(
                    ctx, SourceState.POLLING, f"caught up; asking every {self.settings.poll_seconds:g} s"
                )

    def abort(self) -> None:
        client = self._client
        if client is not None:
            client.cut()

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        """What the mention replies to, up to its submission (listener/reddit_context.py)."""
        return self._context.ancestors(ctx, mention)

    # -- one catch-up -----------------------------------------------------------------------------------------

    def _catch_up(self, ctx: SourceContext, client: RedditClient, start: int | None, *, first: bool) -> int:
        """Read pages from the newest back to `start` and hand over what is new; the new position. Raises
        _Unreadable when an answer could not be read (nothing was handed over then)."""
        fresh: dict[str, Item] = {}
        late: list[Item] = []
        after: str | None = None
        pages = 0
        while True:
            if pages and client.aborted:
                raise ConnectionLost("aborted while catching up")
            if pages and ctx.stopping.is_set():
                raise _Stop()
            page = self._fetch(ctx, client, after)
            pages += 1
            reached = start is None  # a first run reads one page
            for child in page.children:
                try:
                    item = identify(child, self.kind)
                except Malformed as exc:
                    self._keep_aside(ctx, f"{self.what} listing: {exc.reason}", child)
                    continue
                if start is not None and item.position <= start:
                    reached = True
                    if not first and item.fullname not in self._seen:
                        late.append(item)
                    self._remember(item.fullname)
                    continue
                fresh.setdefault(item.fullname, item)
            if reached:
                break
            if page.after is None:
                if start is not None and pages > 1:
                    self._show(ctx, SourceState.WARNING, self._gap_text("the listing ended"))
                break
            if pages >= self.settings.max_pages:
                self._show(ctx, SourceState.WARNING, self._gap_text(f"{pages} pages were read"))
                break
            after = page.after
        for item in sorted(fresh.values(), key=lambda found: found.position):
            self._take(ctx, item, with_cursor=True)
        for item in late:
            self._take(ctx, item, with_cursor=False)
        # A first run that found nothing has still seen all there is: everything later is newer than 0.
        newest = max((item.position for item in fresh.values()), default=start if start is not None else 0)
        self._examined = max(newest, self._examined or 0)
        return newest

    def _gap_text(self, why: str) -> str:
        return (
            f"{why} before reaching the cursor: items older than Reddit's listing reaches "
            "(about 1000) may be missing"
        )

    def _fetch(self, ctx: SourceContext, client: RedditClient, after: str | None) -> Page:
        self._respect_budget(ctx, client)
        params: dict[str, str | int] = {"limit": self.settings.page_size}
        if after:
            params["after"] = after
        try:
            body = client.get(self.path, params)
        except prawcore.BadJSON as exc:
            # An HTML error page (a CDN, a maintenance page), often under 200: the server failing, not the
            # listing being empty. Waited out like a 5xx and said as it is, never shown as "caught up".
            response = exc.response
            kind = answer_kind(response.headers.get("Content-Type"), response.content)
            raise not_the_api(
                f"{self.what}: Reddit",
                response.status_code,
                kind or "something that is not JSON",
                until=retry_after(response.headers, ctx.now()),
            ) from None
        except Exception as exc:
            if client.aborted:
                raise ConnectionLost("aborted: no answer from Reddit in time") from exc
            raise _honour_retry_after(
                source_error(exc, now=ctx.now(), what=self.what), exc, ctx.now()
            ) from exc
        ctx.alive()
        ctx.connected()
        try:
            page = parse_page(body)
        except ErrorBody as exc:
            raise Refused(exc.status, f"{self.what} answered with an error: {exc.message}") from None
        except Malformed as exc:
            self._keep_aside(ctx, f"{self.what}: {exc.reason}", body)
            raise _Unreadable() from None
        return page

    # -- hand-over --------------------------------------------------------------------------------------------

    def _take(self, ctx: SourceContext, item: Item, *, with_cursor: bool) -> None:
        self._remember(item.fullname)
        try:
            mention = to_mention(item, self.brands)
        except Malformed as exc:
            self._keep_aside(ctx, f"{self.what} {item.fullname}: {exc.reason}", item.child)
            return
        if mention is not None:
            ctx.deliver(mention, cursor_of(item.position) if with_cursor else None)

    def _remember(self, fullname: str) -> None:
        self._seen[fullname] = None
        self._seen.move_to_end(fullname)
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)

    def _keep_aside(self, ctx: SourceContext, reason: str, raw: object) -> None:
        data = (
            raw if isinstance(raw, bytes) else json.dumps(raw, ensure_ascii=False).encode("utf-8", "replace")
        )
        # A bad item stays in the listing for many polls; it is kept aside once.
        if data in self._kept_aside:
            return
        self._kept_aside[data] = None
        while len(self._kept_aside) > 200:
            self._kept_aside.popitem(last=False)
        log.warning("%s: put aside: %s", self.name, printable(reason))
        ctx.put_aside(reason, data)

    # -- health and budget ------------------------------------------------------------------------------------

    def _show(self, ctx: SourceContext, state: SourceState, detail: str, until: float | None = None) -> None:
        if self._shown == (state, detail) and until is None:
            return
        self._shown = (state, detail)
        ctx.state(state, detail, until=until)

    def _respect_budget(self, ctx: SourceContext, client: RedditClient) -> None:
        """Wait before the next call as long as praw would (its limiter sleeps unseen, and cannot be stopped),
        so the wait shows as rate-limited and the watchdog knows it is no stall. A nearly spent budget waits
        for Reddit's reset: a pause before the 429, not after it."""
        headers = client.last_headers
        try:
            left = float(headers["x-ratelimit-remaining"])
            used = float(headers["x-ratelimit-used"])
            reset = float(headers["x-ratelimit-reset"])
        except (KeyError, ValueError):
            return
        spent = left <= BUDGET_RESERVE
        wait = reset + 1 if spent else praw_pace(left, used, reset)
        wait -= time.monotonic() - client.last_at
        if wait <= 0.01:
            return
        shown = self._shown
        if spent or wait >= 1:
            why = "nearly spent" if spent else "running low"
            detail = f"Reddit's budget is {why} ({left:.0f} calls left); waiting {wait:.0f} s"
            if spent:
                detail += " for it to refill"
            self._show(ctx, SourceState.RATE_LIMITED, detail, until=ctx.now() + wait)
        if self._wait_alive(ctx, wait):
            raise _Stop()
        if shown is not None and self._shown != shown:
            self._show(ctx, *shown)

    def _wait_alive(self, ctx: SourceContext, seconds: float) -> bool:
        """Wait on purpose, telling the watchdog between slices that this is not a stall."""
        slices = max(1, math.ceil(seconds / max(0.05, self.stall_after / 3)))
        for _ in range(slices):
            if ctx.wait(seconds / slices):
                return True
            ctx.alive()
        return False


def _honour_retry_after(error: SourceError, exc: Exception, now: float) -> SourceError:
    """A 429 or 503 whose Retry-After (seconds or an HTTP date) says when: the supervisor waits that long."""
    response = getattr(exc, "response", None)
    if not isinstance(error, RateLimited | Refused) or error.until is not None or response is None:
        return error
    until = retry_after(getattr(response, "headers", None), now)
    if until is not None:
        error.until = until
    return error


class _Stop(Exception):
    """Stop was asked in the middle of a catch-up."""


class _Unreadable(Exception):
    """An answer could not be read; it was kept aside."""


def praw_pace(remaining: float, used: float, reset: float, window: float = 600.0) -> float:
    """Seconds praw's limiter (prawcore.rate_limit) waits after an answer with these headers: it spreads
    what is left of the budget over what is left of the window, at most 10 s at a time."""
    if remaining <= 0:
        return max(1.0, reset)
    return min(reset, max(reset - (window - window / (remaining + used) * used), 0.0), 10.0)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out
