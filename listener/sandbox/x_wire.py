"""The X API v2 JSON shapes the sandbox sends: tweets and users with the fields a client asked for, errors,
auth checks and rate-limit headers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


def includes_for(tweets: Iterable[SandboxTweet], fields: Fields) -> dict[str, Any]:
    users: dict[str, SandboxUser] = {}
    for tweet in tweets:
        if "author_id" in fields.expansions:
            users.setdefault(tweet.author.id, tweet.author)
        if "in_reply_to_user_id" in fields.expansions and tweet.in_reply_to_user is not None:
            users.setdefault(tweet.in_reply_to_user.id, tweet.in_reply_to_user)
    return {"users": [render_user(user, fields) for user in users.values()]} if users else {}


def stream_line(tweet: SandboxTweet, fields: Fields, rules: list[dict[str, str]]) -> bytes:
    body: dict[str, Any] = {"data": render_tweet(tweet, fields)}
    includes = includes_for([tweet], fields)
    if includes:
        body["includes"] = includes
    body["matching_rules"] = rules
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\r\n"


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
class RateLimits:
    """A fixed 15-minute window per endpoint family, like X's; tests can drain one to provoke a 429."""

    limits: dict[str, int] = field(
        default_factory=lambda: {"search": 450, "rules": 450, "tweets": 200, "lookup": 900}
    )
    window_seconds: int = 900
    _used: dict[str, int] = field(default_factory=dict)
    _window_start: float = field(default_factory=time.time)

    def _roll(self) -> None:
        if time.time() >= self._window_start + self.window_seconds:
            self._window_start = time.time()
            self._used.clear()

    def take(self, family: str) -> tuple[bool, dict[str, str]]:
        """Spend one call; whether it is allowed and the headers to answer with."""
        self._roll()
        limit = self.limits.get(family, 900)
        used = self._used.get(family, 0)
        allowed = used < limit
        if allowed:
            self._used[family] = used + 1
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(0, limit - self._used.get(family, 0))),
            "x-rate-limit-reset": str(int(self._window_start + self.window_seconds)),
        }
        return allowed, headers

    def set_remaining(self, family: str, remaining: int) -> None:
        self._roll()
        limit = self.limits.get(family, 900)
        self._used[family] = max(0, limit - remaining)
