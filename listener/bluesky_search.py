"""Bluesky search (`app.bsky.feed.searchPosts`, sort=latest) per brand: the first start's history, and the
safety net when Jetstream is down.

Each pass asks, for every search query of the brand, the posts since the brand's cursor (minus
`rewind_seconds`), newest first, page after page until it reaches the cursor; then delivers them oldest first,
each moving the cursor `bluesky:search:<brand>` to its time (indexedAt, microseconds). A pass runs at every
session start and every `poll_seconds` while Jetstream is not streaming. While it streams, the supervisor runs
the same pass as Jetstream's reconciliation (`reconcile_pass`, listener/reconcile.py): every `standby_seconds`,
and every `quiet_seconds` while Jetstream is silent.

Bluesky's search syntax has no OR, AND or NOT that can be relied on, so each brand term becomes the fewest
plain queries that together find everything it can match (`acme AND (refund OR "late delivery")` -> `acme`);
every hit then goes through the same `BrandMatcher` as Jetstream's posts, so a term means the same on both."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from atproto import models

from listener.bluesky_api import Api, Unreadable, resolve_accounts
from listener.bluesky_context import BlueskyContext
from listener.bluesky_jetstream import Link
from listener.bluesky_normalise import NETWORK, Brands, Malformed, PostRecord, parse_post_view, to_mention
from listener.config import BlueskySettings, BrandSettings
from listener.health import SourceState
from listener.parsing import raw_bytes
from listener.source import BackoffPolicy, SourceContext
from listener.terms import And, Hashtag, Keyword, Mention, Node, Operator, Or, compile_query
from store.incoming import NewMention

log = logging.getLogger(__name__)

PAGE = 100
_STANDING_BY = "standing by while Jetstream streams (its reconciliation searches)"


def cursor_key(brand: str) -> str:
    return f"bluesky:search:{brand}"


def _queries(node: Node) -> list[str] | None:
    """The fewest search queries whose results together hold every post `node` matches (None: not searchable)."""
    if isinstance(node, Keyword):
        return [node.tokens[0] if len(node.tokens) == 1 else '"' + " ".join(node.tokens) + '"']
    if isinstance(node, Mention):
        return [f"mentions:{node.handle}"]
    if isinstance(node, Hashtag):
        return [f"#{node.tag}"]
    if isinstance(node, Operator):
        return [f"{node.name}:{node.value}"] if node.name in ("from", "to") else None
    if isinstance(node, And):
        options = [found for found in map(_queries, node.parts) if found]
        return min(options, key=len) if options else None
    if isinstance(node, Or):
        union: list[str] = []
        for part in node.parts:
            found = _queries(part)
            if found is None:
                return None
            union += found
        return list(dict.fromkeys(union))
    return None  # Not: a negation alone finds nothing


def search_queries(brand: BrandSettings) -> tuple[list[str], list[str]]:
    """The brand's search queries, and the terms no search can find (Jetstream alone covers those)."""
    queries: list[str] = []
    for handle in brand.handles(NETWORK):
        queries += [f"from:{handle}", f"mentions:{handle}", f"to:{handle}"]
    unsearchable: list[str] = []
    for term in brand.terms:
        if not term.strip():
            continue
        found = _queries(compile_query(term).root)
        if found is None:
            unsearchable.append(term)
        else:
            queries += found
    return list(dict.fromkeys(queries)), unsearchable


def _iso(time_us: int) -> str:
    moment = datetime.fromtimestamp(time_us // 1_000_000, UTC).replace(microsecond=time_us % 1_000_000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SearchSource:
    network = NETWORK

    def __init__(
        self,
        settings: BlueskySettings,
        brand: BrandSettings,
        brands: Brands,
        api: Api,
        link: Link,
        policy: BackoffPolicy,
    ) -> None:
        self.settings = settings
        self.brand = brand
        self.brands = brands
        self.api = api
        self.link = link
        self.policy = policy
        self.name = cursor_key(brand.name)
        self.queries, self.unsearchable = search_queries(brand)
        for term in self.unsearchable:
            log.warning(
                "bluesky: brand %r term %r cannot be searched (only lang:, is: or negations); "
                "only Jetstream finds its posts",
                brand.name,
                term,
            )
        # A pass may wait a whole page timeout, or a poll interval plus a rate-limit wait cut in slices.
        self.stall_after = 3 * settings.poll_seconds + 2 * settings.read_timeout
        self._aborted = False
        # Jetstream's reconciliation runs passes on its own thread: an XRPC client of its own (not thread-safe).
        self._reconcile_api = Api(settings, profiles=api.profiles)
        self.context_limit = settings.thread_context
        self.context = BlueskyContext(settings, brands, api.profiles)

    def session(self, ctx: SourceContext) -> None:
        self._aborted = False
        resolve_accounts(ctx, self.api, self.brands)
        last_pass: float | None = None
        shown_live: bool | None = None
        while not ctx.stopping.is_set() and not self._aborted:
            now = ctx.now()
            live = self.link.live.is_set()
            # While Jetstream streams, its reconciliation runs this pass (`reconcile_pass`): only the first and
            # the ones while it does not are this source's.
            if last_pass is None or (not live and now - last_pass >= self.settings.poll_seconds):
                found = self.run_pass(ctx)
                last_pass = ctx.now()
                shown_live = live
                if live:
                    ctx.state(SourceState.STANDBY, f"{found} found by search; {_STANDING_BY}")
                else:
                    ctx.state(SourceState.POLLING, f"{found} found by search; Jetstream is not streaming")
            elif live and shown_live is False:
                shown_live = True
                ctx.state(SourceState.STANDBY, _STANDING_BY)
            ctx.alive()
            if ctx.wait(min(self.settings.poll_seconds, self.stall_after / 3)):
                return

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        """What the mention replies to, up the conversation (listener/bluesky_context.py)."""
        return self.context.ancestors(ctx, mention)

    def abort(self) -> None:
        # Every wait is short and every call has a timeout: the session notices at its next step.
        self._aborted = True

    def reconcile_pass(self, ctx: SourceContext) -> int:
        """A pass for Jetstream's reconciliation, on its thread and through its runner (`ctx`)."""
        return self.run_pass(ctx, api=self._reconcile_api)

    def run_pass(self, ctx: SourceContext, *, api: Api | None = None) -> int:
        """One search pass from the stored cursor; the number of posts delivered. Each carries this source's
        cursor, whichever runner `ctx` is (this source's, or Jetstream's when it reconciles)."""
        api = api or self.api
        stored = ctx.cursor_of(self.name)
        since = (
            int(stored) - int(self.settings.rewind_seconds * 1_000_000)
            if stored and stored.isdigit()
            else None
        )
        ctx.state(
            SourceState.BACKFILLING,
            "searching since the cursor" if since else "first start: searching history",
        )
        max_pages = self.settings.gap_max_pages if since else self.settings.backfill_max_pages
        hits: dict[str, PostRecord] = {}
        for query in self.queries:
            truncated = self._search(ctx, api, query, since, max_pages, hits)
            if truncated and since is not None:
                ctx.state(
                    SourceState.ERROR,
                    f"search for {query!r} ran out of pages before the cursor; the oldest posts of the gap were "
                    "not fetched (raise bluesky.gap_max_pages)",
                )
        lookup = api.lookup(ctx)
        delivered = 0
        for post in sorted(hits.values(), key=lambda p: (p.seen_us, p.uri)):
            if ctx.stopping.is_set() or self._aborted:
                break
            brand = self.brands.brand_of(post, lookup)
            if brand is None:
                continue
            author = api.profile(ctx, post.did)
            owner = self.brands.dids.get(post.did)
            own = owner == brand or (
                owner is None and post.handle is not None and self._is_own_handle(post.handle)
            )
            try:
                mention = to_mention(post, brand=brand, author=author, is_own=own)
            except Malformed as exc:  # what the store's model refuses: this post's fault, not the pass's
                ctx.put_aside(f"search hit: {exc.reason}", raw_bytes(post.raw))
                continue
            mention.source, mention.cursor = self.name, str(post.seen_us)
            ctx.deliver(mention)
            delivered += 1
        return delivered

    def _is_own_handle(self, handle: str) -> bool:
        return handle.casefold() in self.brands.handles.get(self.brand.name, [])

    def _search(
        self,
        ctx: SourceContext,
        api: Api,
        query: str,
        since: int | None,
        max_pages: int,
        hits: dict[str, PostRecord],
    ) -> bool:
        """Fill `hits` with the query's posts since `since`; True when pages ran out before reaching it."""
        page_cursor: str | None = None
        for _ in range(max_pages):
            params = models.AppBskyFeedSearchPosts.Params(
                q=query,
                sort="latest",
                limit=PAGE,
                cursor=page_cursor,
                since=_iso(since) if since is not None else None,
            )
            try:
                body = api.query(ctx, "app.bsky.feed.searchPosts", params, f"search {query!r}")
            except Unreadable as exc:  # one hostile post can make a whole page unreadable: skip that page
                ctx.put_aside(f"searchPosts answer for {query!r}: {exc.reason}", exc.raw)
                return False
            posts = body.get("posts")
            if not isinstance(posts, list):
                ctx.put_aside(f"searchPosts answer for {query!r} has no posts list", raw_bytes(body))
                return False
            reached = False
            for view in posts:
                try:
                    post = parse_post_view(view, query)
                except Malformed as exc:
                    ctx.put_aside(f"search hit: {exc.reason}", raw_bytes(view))
                    continue
                if since is not None and post.seen_us < since:
                    reached = True  # a server that ignores `since` still ends here
                    continue
                hits.setdefault(post.uri, post)
            page_cursor = body.get("cursor") if isinstance(body.get("cursor"), str) else None
            if reached or not posts or not page_cursor:
                return False
            if ctx.stopping.is_set() or self._aborted:
                return False
        return True
