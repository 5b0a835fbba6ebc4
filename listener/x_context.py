"""X's thread context (listener/context.py): the tweet a mention replies to, and what that one replies to, by
tweet lookup (`GET /2/tweets?ids=`, with the fields and expansions the stream asks for).

Each lookup also expands `referenced_tweets.id` (and its author): the answer carries the tweet above the one
asked for in `includes.tweets`, so a walk costs one lookup per two tweets. X answers a tweet it will not show
(deleted, a suspended or protected account) with an `errors` entry beside `data`, not an HTTP error."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import tweepy

from listener.config import XSettings
from listener.context import Gone
from listener.parsing import raw_bytes
from listener.source import SourceContext
from listener.x_api import Budgets, rest_client, source_error
from listener.x_normalise import (
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    Brands,
    Malformed,
    search_raw,
    to_mention,
    users_of,
)
from store.incoming import NewMention

log = logging.getLogger(__name__)

LOOKUP_EXPANSIONS = [*EXPANSIONS, "referenced_tweets.id", "referenced_tweets.id.author_id"]

Found = tuple[dict[str, Any], dict[str, Mapping[str, Any]]]  # a tweet and the users its answer carried


class XContext:
    """One X source's context lookups: a client of its own (the fetcher's thread), the app's shared budgets."""

    def __init__(self, settings: XSettings, brands: Brands, budgets: Budgets, *, margin: float) -> None:
        self.limit = settings.thread_context
        self.brands = brands
        self.budgets = budgets
        self.margin = margin
        self._client: tweepy.Client | None = None
        self._settings = settings

    @property
    def client(self) -> tweepy.Client:
        if self._client is None:
            self._client = rest_client(self._settings, self.budgets)
        return self._client

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        parent = mention.reply_to_native_id
        carried: dict[str, Found] = {}
        while parent is not None:
            found = carried.pop(parent, None) or self._lookup(ctx, parent, carried)
            if found is None:
                return  # stopping while waiting for the budget
            tweet, users = found
            raw = search_raw(tweet, users, mention.native_id, key="context_of")
            try:
                post = to_mention(tweet, users, brand=mention.brand, brands=self.brands, raw=raw)
            except Malformed as exc:
                ctx.put_aside(f"lookup of {parent}: {exc.reason}", raw_bytes(raw))
                raise Gone(parent, f"X's tweet {parent} could not be read ({exc.reason})") from None
            yield post
            parent = post.reply_to_native_id

    def _lookup(self, ctx: SourceContext, tweet_id: str, carried: dict[str, Found]) -> Found | None:
        if self.budgets.pause(ctx, "lookup", wait=ctx.wait, margin=self.margin):
            return None
        try:
            body = self.client.get_tweets(
                ids=[tweet_id],
                expansions=LOOKUP_EXPANSIONS,
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
            )
        except tweepy.NotFound:
            raise Gone(tweet_id, f"X has no tweet {tweet_id} (deleted)") from None
        except Exception as exc:
            error = source_error(exc, "thread context lookup")
            if error is None:
                raise
            raise error from None
        body = body if isinstance(body, dict) else {}
        includes = body.get("includes")
        users = users_of(includes)
        extras = includes.get("tweets") if isinstance(includes, dict) else None
        for extra in extras if isinstance(extras, list) else []:
            if isinstance(extra, dict) and isinstance(extra.get("id"), str):
                carried[extra["id"]] = (extra, users)
        data = body.get("data")
        for tweet in data if isinstance(data, list) else []:
            if isinstance(tweet, dict) and tweet.get("id") == tweet_id:
                return tweet, users
        raise Gone(tweet_id, _why_not(body, tweet_id))


def _why_not(body: Mapping[str, Any], tweet_id: str) -> str:
    """X's reason for leaving a tweet out of a lookup, in a few words."""
    errors = body.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict) or str(error.get("resource_id") or error.get("value")) != tweet_id:
            continue
        kind = str(error.get("type") or "")
        if kind.endswith("not-authorized-for-resource"):
            return f"X does not show tweet {tweet_id} (a protected account)"
        if kind.endswith("resource-not-found"):
            return f"X has no tweet {tweet_id} (deleted, or its account suspended)"
        return f"X did not return tweet {tweet_id} ({str(error.get('title') or kind)[:100]})"
    return f"X did not return tweet {tweet_id}"
