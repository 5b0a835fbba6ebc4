"""The X API v2 JSON shapes the sandbox sends: tweets and users with the fields a client asked for, errors,
auth checks and rate-limit headers."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from listener.sandbox import wire
from listener.sandbox.replay import SandboxTweet, SandboxUser

_OAUTH_PARAM = re.compile(r'(oauth_[a-z_]+)="([^"]*)"')
_OAUTH_REQUIRED = {
    "oauth_consumer_key",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
}


@dataclass(frozen=True)
class Fields:
    """What a request asked for: `expansions`, `tweet.fields`, `user.fields` (comma-joined on the wire)."""

    expansions: frozenset[str] = frozenset()
    tweet: frozenset[str] = frozenset()
    user: frozenset[str] = frozenset()

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Fields:
        def split(name: str) -> frozenset[str]:
            return frozenset(part.strip() for part in query.get(name, "").split(",") if part.strip())

        return cls(split("expansions"), split("tweet.fields"), split("user.fields"))


def render_tweet(tweet: SandboxTweet, fields: Fields) -> dict[str, Any]:
    # id, text and edit_history_tweet_ids are X's defaults; everything else only when asked for.
    data: dict[str, Any] = {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}
    wanted = fields.tweet
    if "author_id" in wanted or "author_id" in fields.expansions:
        data["author_id"] = tweet.author.id
    if "conversation_id" in wanted:
        data["conversation_id"] = tweet.conversation_id
    if "created_at" in wanted:
        data["created_at"] = tweet.created_at_iso
    if "in_reply_to_user_id" in wanted and tweet.in_reply_to_user is not None:
        data["in_reply_to_user_id"] = tweet.in_reply_to_user.id
    if "lang" in wanted and tweet.lang:
        data["lang"] = tweet.lang
    if "referenced_tweets" in wanted and tweet.in_reply_to_id is not None:
        data["referenced_tweets"] = [{"type": "replied_to", "id": tweet.in_reply_to_id}]
    if "public_metrics" in wanted:
        data["public_metrics"] = {
            "retweet_count": 0,
            "reply_count": 0,
            "like_count": 0,
            "quote_count": 0,
            "bookmark_count": 0,
            "impression_count": 0,
        }
    return data


def render_user(user: SandboxUser, fields: Fields) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
    if "public_metrics" in fields.user:
        data["public_metrics"] = {
            "followers_count": user.followers,
            "following_count": user.following,
            "tweet_count": user.tweet_count,
            "listed_count": user.followers // 500,
        }
    if "verified" in fields.user:
        data["verified"] = False
    if "protected" in fields.user:
        data["protected"] = False
    if "description" in fields.user:
        data["description"] = "Official support account" if user.is_brand else ""
    return data


def includes_for(
    tweets: Iterable[SandboxTweet],
    fields: Fields,
    lookup: Callable[[str], SandboxTweet | None] | None = None,
) -> dict[str, Any]:
    """X's `includes`: the users (and, with `lookup`, the referenced tweets) the expansions asked for."""
    users: dict[str, SandboxUser] = {}
    referenced: dict[str, SandboxTweet] = {}
    for tweet in tweets:
        if "author_id" in fields.expansions:
            users.setdefault(tweet.author.id, tweet.author)
        if "in_reply_to_user_id" in fields.expansions and tweet.in_reply_to_user is not None:
            users.setdefault(tweet.in_reply_to_user.id, tweet.in_reply_to_user)
        parent = lookup(tweet.in_reply_to_id) if lookup and tweet.in_reply_to_id else None
        if parent is not None and "referenced_tweets.id" in fields.expansions:
            referenced.setdefault(parent.id, parent)
            if "referenced_tweets.id.author_id" in fields.expansions:
                users.setdefault(parent.author.id, parent.author)
    includes: dict[str, Any] = {}
    if users:
        includes["users"] = [render_user(user, fields) for user in users.values()]
    if referenced:
        includes["tweets"] = [render_tweet(tweet, fields) for tweet in referenced.values()]
    return includes


def stream_line(tweet: SandboxTweet, fields: Fields, rules: list[dict[str, str]]) -> bytes:
    body: dict[str, Any] = {"data": render_tweet(tweet, fields)}
    includes = includes_for([tweet], fields)
    if includes:
        body["includes"] = includes
    body["matching_rules"] = rules
    return wire.dumps_bytes(body, separators=(",", ":")) + b"\r\n"


def problem(title: str, detail: str, status: int, kind: str = "about:blank", **extra: Any) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": kind, "status": status, **extra}


def invalid_request(message: str, parameter: str) -> dict[str, Any]:
    return {
        "errors": [{"parameters": {parameter: []}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


OPERATIONAL_DISCONNECT = {
    "errors": [
        {
            "title": "operational-disconnect",
            "disconnect_type": "OperationalDisconnect",
            "detail": "This stream has been disconnected for operational reasons.",
            "type": "https://api.twitter.com/2/problems/operational-disconnect",
        }
    ]
}


def auth_kind(header: str | None) -> str | None:
    """'bearer', 'oauth1' or None. Any well-formed header passes: the sandbox checks shape, not signatures."""
    if not header:
        return None
    if header.startswith("Bearer ") and header[7:].strip():
        return "bearer"
    if header.startswith("OAuth ") and _OAUTH_REQUIRED <= {name for name, _ in _OAUTH_PARAM.findall(header)}:
        return "oauth1"
    return None


@dataclass
class _Window:
    limit: int
    seconds: float
    used: int = 0
    # X's reset header is whole epoch seconds; the window ends exactly then, so a client that waits for the
    # header's time finds a fresh budget.
    ends: int = 0


@dataclass
class RateLimits:
    """A fixed window per endpoint family (15 minutes, X's limits for an app); tests can drain one to provoke a
    429, or give it a short window to see a client wait for the reset."""

    limits: dict[str, int] = field(
        default_factory=lambda: {
            "search": 450,
            "rules": 450,
            "tweets": 200,
            "lookup": 900,
            "mentions": 450,
            "users": 300,
        }
    )
    window_seconds: float = 900
    _windows: dict[str, _Window] = field(default_factory=dict)

    def _window(self, family: str) -> _Window:
        window = self._windows.get(family)
        if window is None:
            window = _Window(self.limits.get(family, 900), self.window_seconds)
            self._windows[family] = window
        now = time.time()
        if now >= window.ends:
            window.used = 0
            window.ends = math.ceil(now + window.seconds)
        return window

    def take(self, family: str, *, spend: bool = True) -> tuple[bool, dict[str, str]]:
        """Spend one call (unless `spend` is False); whether it is allowed and the headers to answer with."""
        window = self._window(family)
        allowed = window.used < window.limit
        if allowed and spend:
            window.used += 1
        headers = {
            "x-rate-limit-limit": str(window.limit),
            "x-rate-limit-remaining": str(max(0, window.limit - window.used)),
            "x-rate-limit-reset": str(window.ends),
        }
        return allowed, headers

    def set_remaining(
        self, family: str, remaining: int, *, limit: int | None = None, window: float | None = None
    ) -> None:
        """What is left of the current window; `limit` and `window` (seconds) replace the family's own and
        start a new window now."""
        current = self._window(family)
        if limit is not None:
            current.limit = limit
        if window is not None:
            current.seconds = window
            current.ends = math.ceil(time.time() + window)
        current.used = max(0, current.limit - remaining)
