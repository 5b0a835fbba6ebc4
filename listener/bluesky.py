"""Bluesky: the collector's sources and the reply sender.

Framing: **Jetstream v1** (`GET <jetstream_url>/subscribe?wantedCollections=app.bsky.feed.post&cursor=<time_us>`,
one JSON event per websocket text frame, uncompressed), read with the `websockets` sync client. atproto's own
Jetstream client speaks only v2 (`network.bsky.jetstream.subscribeEvents`), which the public Jetstream hosts do
not serve; v1 is what they do.

Two kinds of source run under the supervisor:

- `bluesky:jetstream` (listener.bluesky_jetstream): every post on the network, filtered by the brands' terms;
  its cursor is the `time_us` of the newest delivered post, and each (re)connect replays from it minus
  `rewind_seconds` (duplicates are the store's to drop).
- `bluesky:search:<brand>` (listener.bluesky_search): `app.bsky.feed.searchPosts` from the brand's cursor: the
  history on the very first start, every `poll_seconds` while Jetstream is not streaming; while it streams,
  Jetstream's reconciliation runs the same search every `standby_seconds` (every `quiet_seconds` while
  Jetstream is silent).

Both decide a post's brand the same way (`Brands.brand_of`): posted by a brand's account, a reply to one, or
matched by the brand's terms (`BrandMatcher(brands, "bluesky")`). Conversation id is the reply root's URI (or
the post's own), native id the post's at:// URI, the author's handle, display name and followers come from
`app.bsky.actor.getProfile` through a shared cache.
"""

from __future__ import annotations

from listener.bluesky_api import Api, Profiles
from listener.bluesky_context import BlueskyContext
from listener.bluesky_jetstream import SOURCE as JETSTREAM_SOURCE
from listener.bluesky_jetstream import JetstreamSource, Link
from listener.bluesky_normalise import NETWORK, Brands
from listener.bluesky_search import SearchSource, cursor_key, search_queries
from listener.bluesky_sender import BlueskySender, SendError
from listener.config import BlueskySettings, BrandSettings
from listener.source import BackoffPolicy, Source

__all__ = [
    "BACKOFF",
    "JETSTREAM_SOURCE",
    "NETWORK",
    "BlueskySender",
    "JetstreamSource",
    "SearchSource",
    "SendError",
    "build_sources",
    "cursor_key",
    "search_queries",
]

# Bluesky documents no reconnect policy. These follow atproto's own subscription client (2^n s up to 64 s after
# failures) for refused connects, reconnect a dropped socket after a second or two (Jetstream replays the gap),
# and wait out 429s as their `ratelimit-reset` says (or a minute, doubling, without one).
BACKOFF = BackoffPolicy(
    network_step=1.0,
    network_max=30.0,
    http_start=2.0,
    http_max=64.0,
    rate_limit_start=60.0,
    fatal_retry=300.0,
    clean_close=1.0,
)


def build_sources(
    settings: BlueskySettings, brands: list[BrandSettings], *, policy: BackoffPolicy | None = None
) -> list[Source]:
    """Jetstream plus one search source per brand that listens on Bluesky; none when disabled or no brand does."""
    index = Brands(brands)
    if not settings.enabled or not index.brands:
        return []
    profiles = Profiles()
    link = Link()
    backoff = policy or BACKOFF
    jetstream = JetstreamSource(settings, index, Api(settings, profiles=profiles), link, backoff)
    searches = [
        SearchSource(settings, brand, index, Api(settings, profiles=profiles), link, backoff)
        for brand in index.brands
    ]
    # Jetstream reconciles through each brand's search (listener/reconcile.py).
    jetstream.searches = list(searches)
    # One client for every source's thread context: one login, not one per source.
    context = BlueskyContext(settings, index, profiles)
    jetstream.context = context
    for search in searches:
        search.context = context
    return [jetstream, *searches]
