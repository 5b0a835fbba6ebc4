"""Fetching what a brand's rules matched since a cursor, through X's recent search (the last 7 days)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tweepy

from listener.config import BrandSettings
from listener.x_normalise import (
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    Brands,
    Malformed,
    search_items,
    search_raw,
    to_mention,
)
from listener.x_rules import brand_rules
from store.incoming import NewMention

log = logging.getLogger(__name__)

# Milliseconds live above bit 22 of a snowflake id.
_SNOWFLAKE_MS_SHIFT = 22


@dataclass
class Gap:
    mentions: list[NewMention] = field(default_factory=list)  # oldest first
    # More pages were left when max_pages ran out: the oldest part of the gap was not fetched.
    truncated: bool = False
    # The cursor was older than search reaches; the gap was filled as far back as X allows.
    too_old: bool = False


def since_id(cursor: str | None, rewind_seconds: float) -> str | None:
    """The cursor moved back a little: X's stream order is by arrival, not strictly by id."""
    if not cursor or not cursor.isdigit():
        return cursor or None
    rewind = int(rewind_seconds * 1000) << _SNOWFLAKE_MS_SHIFT
    return str(max(1, int(cursor) - rewind))


def fetch_gap(
    client: tweepy.Client,
    brand: BrandSettings,
    brands: Brands,
    *,
    since: str | None,
    source: str,
    max_pages: int,
    stop: threading.Event,
    quarantine: Callable[[str, str, bytes], None],
) -> Gap:
    """Every tweet the brand's rules match after `since` (or the newest `max_pages` pages without it).

    Each mention carries `source` and its id as cursor. Raises what tweepy raises, for the caller to retry."""
    search = _Search(client, brand, brands, source, max_pages, stop, quarantine)
    gap = Gap()
    for rule in brand_rules(brand):
        try:
            truncated = search.run(rule.value, since)
        except tweepy.BadRequest as exc:
            # X refuses a since_id older than its 7-day window: fill what it still has.
            if since is None or "since_id" not in str(exc):
                raise
            gap.too_old = True
            truncated = search.run(rule.value, None)
        gap.truncated = gap.truncated or truncated
    # Oldest first: if we stop halfway, the cursor stands where everything before it has been handed over.
    gap.mentions = [search.found[native_id] for native_id in sorted(search.found, key=int)]
    return gap


@dataclass
class _Search:
    client: tweepy.Client
    brand: BrandSettings
    brands: Brands
    source: str
    max_pages: int
    stop: threading.Event
    quarantine: Callable[[str, str, bytes], None]
    found: dict[str, NewMention] = field(default_factory=dict)

    def run(self, query: str, since: str | None) -> bool:
        """Follow next_token pages; whether pages were left over when max_pages ran out."""
        token: str | None = None
        pages = 0
        while not self.stop.is_set():
            params: dict[str, Any] = {
                "max_results": 100,
                "expansions": EXPANSIONS,
                "tweet_fields": TWEET_FIELDS,
                "user_fields": USER_FIELDS,
            }
            if since:
                params["since_id"] = since
            if token:
                params["next_token"] = token
            page = self.client.search_recent_tweets(query, **params)
            pages += 1
            for tweet, users in search_items(page):
                self._take(tweet, users, query)
            token = (page.get("meta") or {}).get("next_token")
            if not token:
                return False
            if pages >= self.max_pages:
                return True
        return False

    def _take(self, tweet: dict[str, Any], users: Any, query: str) -> None:
        raw = search_raw(tweet, users, query)
        try:
            mention = to_mention(tweet, users, brand=self.brand.name, brands=self.brands, raw=raw)
        except Malformed as exc:
            data = json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass")
            self.quarantine(self.source, f"search result: {exc.reason}", data)
            return
        mention.source, mention.cursor = self.source, mention.native_id
        self.found[mention.native_id] = mention
