"""X API v2 JSON -> `NewMention`. Pure functions: bytes or dicts in, a mention or a `Malformed` reason out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from listener.config import BrandSettings
from listener.parsing import Malformed, ascii_digits, loads, malformed_if_refused
from listener.x_rules import brand_of_tag
from store.incoming import Author, NewMention

__all__ = ["Malformed", "NETWORK", "Brands", "parse_created_at", "parse_stream_line", "to_mention"]

NETWORK = "x"
TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "lang",
    "referenced_tweets",
    "in_reply_to_user_id",
]
USER_FIELDS = ["public_metrics", "username", "name"]
EXPANSIONS = ["author_id"]

# The store's column sizes; X's own limits are far below (ids ~19 digits, names 50 characters).
_MAX_ID = 40
# X escapes exactly these three in tweet text, whatever the client; everything else arrives literally.
_X_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def tweet_text(raw: str) -> str:
    for escaped, plain in _X_ENTITIES:
        raw = raw.replace(escaped, plain)
    return raw


def parse_created_at(value: Any) -> datetime:
    """X's own shape only (`2024-05-13T09:15:02.000Z`), as tweepy parses it; anything else is malformed."""
    if not isinstance(value, str):
        raise Malformed(f"created_at is {type(value).__name__}, not a string")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    except ValueError:
        raise Malformed(
            f"created_at {value[:40]!r} is not X's timestamp format (YYYY-MM-DDTHH:MM:SS.mmmZ)"
        ) from None
    except OverflowError:  # 0001-01-01T00:00:00.000+05:00 is a year before year 1 in UTC
        raise Malformed(f"created_at {value[:40]!r} is outside the years a date can have") from None


@dataclass
class Brands:
    """The configured brands, looked up the ways a tweet names them: by rule tag and by own handle."""

    by_name: dict[str, BrandSettings]
    _own: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, brands: list[BrandSettings]) -> Brands:
        index = cls({brand.name: brand for brand in brands})
        index._own = {brand.name: {h.casefold() for h in brand.handles(NETWORK)} for brand in brands}
        return index

    def is_own(self, brand: str, username: str) -> bool:
        return username.casefold() in self._own.get(brand, set())


def _require(data: Mapping[str, Any], key: str, where: str = "data") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{where}.{key} is missing or not a string")
    return value


def _id(data: Mapping[str, Any], key: str, where: str = "data") -> str:
    """An X id: ASCII digits (ids are numbers written as strings), short enough to be one."""
    value = _require(data, key, where)
    if not ascii_digits(value) or len(value) > _MAX_ID:
        raise Malformed(f"{where}.{key} {value[:40]!r} is not an X id")
    return value


def users_of(includes: Any) -> dict[str, Mapping[str, Any]]:
    users = includes.get("users") if isinstance(includes, Mapping) else None
    if not isinstance(users, list):
        return {}
    return {str(user["id"]): user for user in users if isinstance(user, Mapping) and "id" in user}


def to_mention(
    tweet: Mapping[str, Any],
    users: Mapping[str, Mapping[str, Any]],
    *,
    brand: str,
    brands: Brands,
    raw: dict[str, Any],
) -> NewMention:
    native_id = _id(tweet, "id")
    text = tweet.get("text")
    if not isinstance(text, str):
        raise Malformed("data.text is missing or not a string")
    author_id = _id(tweet, "author_id")
    conversation_id = _id(tweet, "conversation_id")
    created_at = parse_created_at(tweet.get("created_at"))
    user = users.get(author_id)
    if user is None:
        raise Malformed(f"author {author_id} is not in includes.users (was expansions=author_id asked for?)")
    username = _require(user, "username", "includes.users[]")
    metrics = user.get("public_metrics") if isinstance(user.get("public_metrics"), Mapping) else {}
    followers = metrics.get("followers_count", 0) if isinstance(metrics, Mapping) else 0
    references = tweet.get("referenced_tweets")
    replied_to = next(
        (
            _id(ref, "id", "data.referenced_tweets[]")
            for ref in (references if isinstance(references, list) else [])
            if isinstance(ref, Mapping) and ref.get("type") == "replied_to" and ref.get("id")
        ),
        None,
    )
    lang = tweet.get("lang")
    with malformed_if_refused():
        return NewMention(
            network=NETWORK,
            native_id=native_id,
            conversation_id=conversation_id,
            text=tweet_text(text),
            created_at=created_at,
            author=Author(
                native_user_id=author_id,
                handle=username,
                display_name=str(user.get("name") or ""),
                followers=followers
                if isinstance(followers, int) and not isinstance(followers, bool) and followers >= 0
                else 0,
            ),
            # "und" is X's "could not tell": the classifier guesses better from nothing than from a wrong code.
            language=lang if isinstance(lang, str) and lang and lang != "und" else None,
            reply_to_native_id=replied_to,
            brand=brand,
            is_own=brands.is_own(brand, username),
            raw=raw,
        )


@dataclass
class StreamLine:
    mention: NewMention | None = None
    errors: list[Any] = field(default_factory=list)
    # Matched only rules that are not ours (another app's rules, or a brand no longer configured).
    ignored: bool = False


def parse_stream_line(line: bytes, brands: Brands, *, max_bytes: int) -> StreamLine:
    if len(line) > max_bytes:
        raise Malformed(f"stream line of {len(line)} bytes is longer than the {max_bytes} allowed")
    body = loads(line, "stream line")
    if not isinstance(body, dict):
        raise Malformed(f"stream line is a JSON {type(body).__name__}, not an object")
    errors = body.get("errors")
    if errors is not None and not isinstance(errors, list):
        raise Malformed(f"errors is a JSON {type(errors).__name__}, not a list")
    result = StreamLine(errors=list(errors or []))
    if "data" not in body:
        if not result.errors:
            raise Malformed("stream line has neither data nor errors")
        return result
    tweet = body["data"]
    if not isinstance(tweet, dict):
        raise Malformed("data is not an object")
    rules = body.get("matching_rules")
    if not isinstance(rules, list) or not rules:
        raise Malformed("tweet without matching_rules: cannot tell which brand it is for")
    tags = []
    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("tag"), str):
            raise Malformed(f"matching rule {rule!r:.80} has no tag: cannot tell which brand it is for")
        tags.append(rule["tag"])
    names = [name for name in map(brand_of_tag, tags) if name is not None and name in brands.by_name]
    if not names:
        result.ignored = True
        return result
    users = users_of(body.get("includes"))
    author = users.get(str(tweet.get("author_id")), {})
    username = str(author.get("username", ""))
    # A tweet several brands' rules match goes to the brand that wrote it, else the first configured one.
    brand = next((name for name in names if brands.is_own(name, username)), names[0])
    result.mention = to_mention(tweet, users, brand=brand, brands=brands, raw=body)
    return result


def search_items(page: Mapping[str, Any]) -> list[tuple[dict[str, Any], dict[str, Mapping[str, Any]]]]:
    """The tweets of one recent-search page, each with the users it may need."""
    if not isinstance(page, Mapping):
        return []
    data = page.get("data")
    users = users_of(page.get("includes"))
    return [(tweet, users) for tweet in data if isinstance(tweet, dict)] if isinstance(data, list) else []


def search_raw(
    tweet: dict[str, Any],
    users: Mapping[str, Mapping[str, Any]],
    query: str,
    *,
    key: str = "matching_query",
) -> dict[str, Any]:
    """A search (or mentions timeline) hit kept in the shape of a stream line, so every stored raw reads the
    same way; `key` says what found it: the search query, or the handle whose mentions were read."""
    author = users.get(str(tweet.get("author_id")))
    raw: dict[str, Any] = {"data": tweet, "includes": {"users": [dict(author)] if author else []}}
    raw[key] = query
    return raw
