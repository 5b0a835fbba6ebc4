"""Fetching what a brand's rules matched since a cursor, through X's recent search (the last 7 days), and the
mentions of a brand's account since a cursor, through its mentions timeline (the newest 800)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tweepy

from listener.config import BrandSettings
from listener.parsing import ascii_digits, raw_bytes
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

Quarantine = Callable[[str, str, bytes], None]  # source, reason, raw


def _nothing() -> None:
    return None


class Stopped(Exception):
    """Stop was asked mid-fetch. What was fetched is dropped: newest pages come first, so handing them over
    without the older ones would move a cursor over tweets never fetched."""


@dataclass
class Gap:
    mentions: list[NewMention] = field(default_factory=list)  # oldest first
    # More pages were left when max_pages ran out: the oldest part of the gap was not fetched.
    truncated: bool = False
    # The cursor was older than search reaches; the gap was filled as far back as X allows.
    too_old: bool = False


def since_id(cursor: str | None, rewind_seconds: float) -> str | None:
    """The cursor moved back a little: X's stream order is by arrival, not strictly by id. A cursor that is no
    tweet id (none of ours is) is no place to start from: the backfill starts as a first one does."""
    if not ascii_digits(cursor):
        return None
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
    quarantine: Quarantine,
    before_call: Callable[[], None] = _nothing,
) -> Gap:
    """Every tweet the brand's rules match after `since` (or the newest `max_pages` pages without it).

    Each mention carries `source` and its id as cursor. `before_call` runs before each request (the rate-limit
    budget's pause). Raises what tweepy raises, for the caller to retry, and `Stopped`."""
    pages = _Pages(brand, brands, source, max_pages, stop, quarantine, before_call)
    gap = Gap()
    for rule in brand_rules(brand):

        def search(token: str | None, after: str | None, query: str = rule.value) -> Any:
            return client.search_recent_tweets(query, **_params("next_token", token, after))

        try:
            truncated = pages.run(search, since, key="matching_query", value=rule.value)
        except tweepy.BadRequest as exc:
            # X refuses a since_id older than its 7-day window: fill what it still has.
            if since is None or "since_id" not in str(exc):
                raise
            gap.too_old = True
            truncated = pages.run(search, None, key="matching_query", value=rule.value)
        gap.truncated = gap.truncated or truncated
    gap.mentions = pages.oldest_first()
    return gap


def fetch_mentions(
    client: tweepy.Client,
    user_id: str,
    handle: str,
    brand: BrandSettings,
    brands: Brands,
    *,
    since: str | None,
    source: str,
    max_pages: int,
    stop: threading.Event,
    quarantine: Quarantine,
    before_call: Callable[[], None] = _nothing,
) -> Gap:
    """The tweets mentioning the account `user_id` (@handle) after `since`, oldest first, as `fetch_gap`."""
    pages = _Pages(brand, brands, source, max_pages, stop, quarantine, before_call)

    def mentions(token: str | None, after: str | None) -> Any:
        return client.get_users_mentions(user_id, **_params("pagination_token", token, after))

    gap = Gap(truncated=pages.run(mentions, since, key="mentions_of", value=handle))
    gap.mentions = pages.oldest_first()
    return gap


def _params(token_name: str, token: str | None, since: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "max_results": 100,
        "expansions": EXPANSIONS,
        "tweet_fields": TWEET_FIELDS,
        "user_fields": USER_FIELDS,
    }
    if since:
        params["since_id"] = since
    if token:
        params[token_name] = token
    return params


@dataclass
class _Pages:
    brand: BrandSettings
    brands: Brands
    source: str
    max_pages: int
    stop: threading.Event
    quarantine: Quarantine
    before_call: Callable[[], None]
    found: dict[str, NewMention] = field(default_factory=dict)

    def run(
        self, fetch: Callable[[str | None, str | None], Any], since: str | None, *, key: str, value: str
    ) -> bool:
        """Follow next_token pages; whether pages were left over when max_pages ran out."""
        token: str | None = None
        pages = 0
        while True:
            self.before_call()
            if self.stop.is_set():
                raise Stopped
            page = fetch(token, since)
            pages += 1
            for tweet, users in search_items(page):
                self._take(tweet, users, key, value)
            meta = page.get("meta") if isinstance(page, dict) else None
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token or not isinstance(token, str):
                return False
            if pages >= self.max_pages:
                return True

    def oldest_first(self) -> list[NewMention]:
        # If we stop halfway through handing these over, the cursor stands where everything before it is in.
        return [self.found[native_id] for native_id in sorted(self.found, key=int)]

    def _take(self, tweet: dict[str, Any], users: Any, key: str, value: str) -> None:
        raw = search_raw(tweet, users, value, key=key)
        try:
            mention = to_mention(tweet, users, brand=self.brand.name, brands=self.brands, raw=raw)
        except Malformed as exc:
            self.quarantine(self.source, f"{_what(key)}: {exc.reason}", raw_bytes(raw))
            return
        mention.source, mention.cursor = self.source, mention.native_id
        self.found[mention.native_id] = mention


def _what(key: str) -> str:
    return "search result" if key == "matching_query" else "mentions timeline item"
