"""Reddit's listing JSON -> `NewMention`, and which brand a post is about.

Native ids are fullnames (`t1_` comments, `t3_` submissions: the two kinds are numbered separately, so a bare
base36 id could name both). A thread is its submission: `conversation_id` is the submission's fullname, which
is also the native id of the submission itself, and `reply_to_native_id` is the comment's `parent_id`.
Listings give no follower counts and no display names: followers are 0 and the display name is the username.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from listener.config import BrandSettings
from listener.parsing import Malformed, ascii_digits, malformed_if_refused
from listener.terms import BrandMatcher, Post
from store.incoming import Author, NewMention

NETWORK = "reddit"
KINDS = {"comments": "t1", "submissions": "t3"}
# Today's ids have 7 characters; 12 keep a position within the cursor's 20 digits (36**12 < 10**19).
_BASE36 = re.compile(r"[0-9a-z]{1,12}")
# u/name and /u/name: how Redditors name each other; brand terms write mentions as @name on every network.
_USER_MENTION = re.compile(r"(?<![\w/])/?u/([A-Za-z0-9_-]{3,20})\b")
_CURSOR_DIGITS = 20


class ErrorBody(Exception):
    """A body in Reddit's error shape, `{"message": ..., "error": status}`, where a listing was expected."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Page:
    children: list[Any]
    after: str | None


@dataclass(frozen=True)
class Item:
    """A listing child with a readable name: where it stands in Reddit's id order."""

    fullname: str
    position: int
    child: dict[str, Any]


def cursor_of(position: int) -> str:
    """A cursor `store.mentions.is_newer` orders as Reddit numbers things: the base36 id as decimal, padded so
    that it sorts as text too."""
    return f"{position:0{_CURSOR_DIGITS}d}"


def position_of(cursor: str | None) -> int | None:
    return int(cursor) if ascii_digits(cursor) else None


def parse_page(body: Any) -> Page:
    if isinstance(body, dict) and "error" in body and "kind" not in body:
        status = body.get("error")
        raise ErrorBody(
            status if isinstance(status, int) else 0, str(body.get("message") or body.get("reason"))
        )
    if not isinstance(body, dict) or body.get("kind") != "Listing":
        raise Malformed(f"expected a Listing, got {_shape(body)}")
    data = body.get("data")
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(children, list):
        raise Malformed("a Listing without data.children")
    after = data.get("after")
    return Page(children=children, after=after if isinstance(after, str) and after else None)


def identify(child: Any, kind: str) -> Item:
    """The child's fullname and position; Malformed when it is not a `kind` thing with a base36 id."""
    if not isinstance(child, dict):
        raise Malformed(f"listing child is {_shape(child)}, not an object")
    if child.get("kind") != kind:
        raise Malformed(f"listing child of kind {child.get('kind')!r} where {kind} was expected")
    data = child.get("data")
    if not isinstance(data, dict):
        raise Malformed("listing child without a data object")
    native = data.get("id")
    if not isinstance(native, str) or not _BASE36.fullmatch(native):
        raise Malformed(f"data.id {native!r} is not a base36 id")
    name = data.get("name")
    if name is not None and name != f"{kind}_{native}":
        raise Malformed(f"data.name {name!r} does not match data.id {native!r}")
    return Item(fullname=f"{kind}_{native}", position=int(native, 36), child=child)


class RedditBrands:
    """Which configured brand a Reddit post is about: the brand's own account wrote it, or the brand's terms
    match (title and text of a submission, the body of a comment), `u/name` counting as `@name`."""

    def __init__(self, brands: Sequence[BrandSettings]) -> None:
        listening = [brand for brand in brands if brand.listens_on(NETWORK)]
        self.matcher = BrandMatcher(listening, NETWORK)
        self.own = {handle.casefold(): brand.name for brand in listening for handle in brand.handles(NETWORK)}

    def about(self, text: str, author: str, conversation: str) -> tuple[str | None, bool]:
        """(brand, is_own); brand None when the post is about no configured brand."""
        own = self.own.get(author.casefold())
        if own is not None:
            return own, True
        post = Post(
            text=_USER_MENTION.sub(r"@\1", text), author_username=author, conversation_id=conversation
        )
        return self.matcher.first(post), False


def to_mention(item: Item, brands: RedditBrands, *, brand: str | None = None) -> NewMention | None:
    """The item as a mention, or None when it is about no brand. Malformed when a field is missing or wrong.
    `brand`: the conversation's brand, whatever the text says (thread context: the post a mention replies to)."""
    kind = item.fullname[:2]
    data = item.child["data"]
    author = _text(data, "author")
    created_at = _created(data.get("created_utc"))
    if kind == "t1":
        text = _text(data, "body")
        conversation = _fullname(data, "link_id", ("t3_",))
        reply_to: str | None = _fullname(data, "parent_id", ("t1_", "t3_"))
    else:
        title, selftext = _text(data, "title"), str(data.get("selftext") or "")
        link = data.get("url") if data.get("is_self") is False else None
        body = selftext or (link if isinstance(link, str) else "")
        text = f"{title}\n\n{body}" if body else title
        conversation, reply_to = item.fullname, None
    if brand is None:
        brand, is_own = brands.about(text, author, conversation)
        if brand is None:
            return None
    else:
        is_own = brands.own.get(author.casefold()) == brand
    account = data.get("author_fullname")
    if isinstance(account, str) and account:
        user_id = account
    elif author == "[deleted]":
        # Deleted accounts are all called [deleted]; they are not one customer.
        user_id = f"deleted:{item.fullname}"
    else:
        user_id = f"u/{author}"
    with malformed_if_refused():
        return NewMention(
            network=NETWORK,
            native_id=item.fullname,
            conversation_id=conversation,
            text=text,
            created_at=created_at,
            author=Author(native_user_id=user_id, handle=author, display_name=author, followers=0),
            language=None,
            reply_to_native_id=reply_to,
            brand=brand,
            is_own=is_own,
            raw=item.child,
        )


def _created(value: Any) -> datetime:
    """created_utc, epoch seconds as a number (Reddit writes a float: 1715590502.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"data.created_utc {str(value)[:40]!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise Malformed(f"data.created_utc {value!r} is not a time")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise Malformed(
            f"data.created_utc {str(value)[:40]!r} is outside the years a date can have"
        ) from None


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise Malformed(f"data.{key} is {_shape(value)}, not text")
    return value


def _fullname(data: dict[str, Any], key: str, prefixes: tuple[str, ...]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.startswith(prefixes) or not _BASE36.fullmatch(value[3:]):
        raise Malformed(f"data.{key} {value!r} is not a {' or '.join(p[:2] for p in prefixes)} fullname")
    return value


def _shape(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dict):
        return "an object" + (f" of kind {value['kind']!r}" if "kind" in value else "")
    return f"a {type(value).__name__}"
