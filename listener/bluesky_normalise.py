"""Bluesky JSON -> `NewMention`: Jetstream v1 commit events and AppView post views. Pure except for the profile
lookup a caller passes in, which runs only when a brand's terms need the author (`from:`, `to:`) or a post is kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from listener.config import BrandSettings
from listener.parsing import Malformed, loads, malformed_if_refused
from listener.terms import BrandMatcher
from store.incoming import Author, NewMention

NETWORK = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"
# The store's id columns (native id, conversation id, reply-to): did:plc URIs are about 70 characters.
_MAX_ID = 100
# atproto's own syntax rules: a did, a record key, and an at:// URI of a record (did authority only: Jetstream
# and search name repos by did). Anything else would be sent back to the network in a profile lookup.
_DID = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]")
_RKEY = re.compile(r"[A-Za-z0-9._:~-]{1,512}")
_RECORD_URI = re.compile(
    r"at://(did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-])/[a-zA-Z0-9.-]+/[A-Za-z0-9._:~-]+"
)
# Jetstream's time_us is the server's clock in microseconds; past year 9999 no date can hold it.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TIME_US = (datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)

__all__ = [
    "Malformed",
    "NETWORK",
    "Frame",
    "PostRecord",
    "Profile",
    "Brands",
    "parse_frame",
    "parse_post_view",
]


@dataclass(frozen=True)
class Profile:
    did: str
    handle: str
    display_name: str = ""
    followers: int = 0


@dataclass(frozen=True)
class PostRecord:
    uri: str
    cid: str
    did: str
    text: str
    created_at: datetime
    langs: tuple[str, ...] = ()
    root_uri: str | None = None
    parent_uri: str | None = None
    # Known from a post view; Jetstream names only the did.
    handle: str | None = None
    display_name: str | None = None
    # When the network saw it: Jetstream's time_us, or a search hit's indexedAt, in microseconds.
    seen_us: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def conversation_id(self) -> str:
        return self.root_uri or self.uri


@dataclass(frozen=True)
class Frame:
    """One Jetstream message: a post, something to skip (identity, account, delete, other collections), or an
    error the server sent before closing."""

    time_us: int | None = None
    post: PostRecord | None = None
    error: str | None = None


def did_of(uri: str | None) -> str | None:
    """The repo (author) of an at:// URI."""
    found = _RECORD_URI.fullmatch(uri) if isinstance(uri, str) else None
    return found.group(1) if found else None


def parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise Malformed(f"{where} is {type(value).__name__}, not a string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(f"{where} {value[:40]!r} is not an ISO 8601 datetime") from None
    if moment.tzinfo is None:
        raise Malformed(f"{where} {value[:40]!r} has no timezone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+05:00 falls before year 1 in UTC
        raise Malformed(f"{where} {value[:40]!r} is outside the years a date can have") from None


def _from_us(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us // 1_000_000, UTC).replace(microsecond=time_us % 1_000_000)


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{where}.{key} is missing or not a string")
    return value


def _record(
    record: Any, *, uri: str, cid: str, did: str, seen_us: int, raw: dict[str, Any], where: str
) -> PostRecord:
    if not isinstance(record, Mapping):
        raise Malformed(f"{where} is not an object")
    text = record.get("text")
    if not isinstance(text, str):
        raise Malformed(f"{where}.text is missing or not a string")
    if len(uri) > _MAX_ID or len(did) > _MAX_ID:
        raise Malformed(f"uri {uri[:80]!r} is longer than the {_MAX_ID} characters an id is stored in")
    langs = record.get("langs")
    reply = record.get("reply")
    root_uri = parent_uri = None
    if reply is not None:
        try:
            root_uri, parent_uri = reply["root"]["uri"], reply["parent"]["uri"]
        except (KeyError, TypeError, IndexError):
            raise Malformed(f"{where}.reply needs root.uri and parent.uri") from None
        if did_of(root_uri) is None or did_of(parent_uri) is None:
            raise Malformed(f"{where}.reply refers to something that is not an at:// URI of a record")
        if len(root_uri) > _MAX_ID or len(parent_uri) > _MAX_ID:
            raise Malformed(f"{where}.reply URIs are longer than the {_MAX_ID} characters an id is stored in")
    created = parse_time(record.get("createdAt"), f"{where}.createdAt")
    return PostRecord(
        uri=uri,
        cid=cid,
        did=did,
        text=text,
        # createdAt is whatever the author's app wrote; like Bluesky's own sort time, a post is never newer than
        # when the network first saw it (backdated posts, imported from elsewhere, keep their date).
        created_at=min(created, _from_us(seen_us)),
        langs=tuple(lang for lang in langs if isinstance(lang, str) and lang)
        if isinstance(langs, list)
        else (),
        root_uri=root_uri,
        parent_uri=parent_uri,
        seen_us=seen_us,
        raw=raw,
    )


def parse_frame(data: str | bytes, *, max_bytes: int) -> Frame:
    """One Jetstream v1 text frame. Raises Malformed with the reason the quarantine shows."""
    if isinstance(data, bytes):
        raise Malformed(
            f"binary frame of {len(data)} bytes: Jetstream v1 sends JSON text (compression is off)"
        )
    if len(data) > max_bytes:
        raise Malformed(f"frame of {len(data)} characters is longer than the {max_bytes} allowed")
    body = loads(data, "frame")
    if not isinstance(body, dict):
        raise Malformed(f"frame is a JSON {type(body).__name__}, not an object")
    if "kind" not in body and isinstance(body.get("error"), str):
        message = body.get("message")
        return Frame(error=f"{body['error']}: {message}" if message else body["error"])
    time_us = body.get("time_us")
    if not isinstance(time_us, int) or isinstance(time_us, bool) or not 0 < time_us < _MAX_TIME_US:
        raise Malformed(f"time_us {str(time_us)[:40]!r} is not a time in microseconds")
    kind = body.get("kind")
    if kind in ("identity", "account"):
        return Frame(time_us)
    if kind != "commit":
        raise Malformed(f"unknown event kind {str(kind)[:40]!r}")
    commit = body.get("commit")
    if not isinstance(commit, dict):
        raise Malformed("commit event without a commit object")
    operation = commit.get("operation")
    if commit.get("collection") != POST_COLLECTION or operation == "delete":
        return Frame(time_us)
    if operation not in ("create", "update"):
        raise Malformed(f"unknown commit operation {str(operation)[:40]!r}")
    did = _str(body, "did", "event")
    if not _DID.fullmatch(did):
        raise Malformed(f"event.did {did[:60]!r} is not a did")
    rkey = _str(commit, "rkey", "commit")
    if not _RKEY.fullmatch(rkey):
        raise Malformed(f"commit.rkey {rkey[:60]!r} is not a record key")
    uri = f"at://{did}/{POST_COLLECTION}/{rkey}"
    post = _record(
        commit.get("record"),
        uri=uri,
        cid=_str(commit, "cid", "commit"),
        did=did,
        seen_us=time_us,
        raw=body,
        where="commit.record",
    )
    return Frame(time_us, post)


def parse_post_view(view: Any, query: str) -> PostRecord:
    """One `searchPosts` hit (app.bsky.feed.defs#postView)."""
    if not isinstance(view, Mapping):
        raise Malformed("search hit is not an object")
    uri = _str(view, "uri", "post")
    author = view.get("author")
    if not isinstance(author, Mapping):
        raise Malformed("post.author is missing")
    did = _str(author, "did", "post.author")
    if did_of(uri) != did:
        raise Malformed(f"post.uri {uri[:80]!r} is not in the repo of its author {did[:60]!r}")
    seen = parse_time(view.get("indexedAt"), "post.indexedAt")
    seen_us = (seen - _EPOCH) // timedelta(microseconds=1)
    if not 0 < seen_us < _MAX_TIME_US:
        raise Malformed(f"post.indexedAt {view.get('indexedAt')!r} is before 1970: no search indexed it then")
    post = _record(
        view.get("record"),
        uri=uri,
        cid=_str(view, "cid", "post"),
        did=did,
        seen_us=seen_us,
        raw={"post": dict(view), "search": query},
        where="post.record",
    )
    display = author.get("displayName")
    return replace(
        post,
        handle=_str(author, "handle", "post.author"),
        display_name=display if isinstance(display, str) else None,
    )


class _Candidate:
    """A post as the term language sees it; the author's and parent author's handles are looked up only if a
    term asks for them."""

    def __init__(self, post: PostRecord, profile: Callable[[str], Profile]) -> None:
        self.post = post
        self._profile = profile

    @property
    def text(self) -> str:
        return self.post.text

    @property
    def author_username(self) -> str:
        return self.post.handle or self._profile(self.post.did).handle

    @property
    def conversation_id(self) -> str:
        return self.post.conversation_id

    @property
    def in_reply_to_username(self) -> str | None:
        parent = did_of(self.post.parent_uri)
        return self._profile(parent).handle if parent else None

    @property
    def lang(self) -> str | None:
        return self.post.langs[0] if self.post.langs else None


class Brands:
    """Which brand a post is about, the same way on every path (Jetstream or search): posted by one of its
    accounts, a reply to one (Bluesky replies carry no @handle in their text), or matched by its terms."""

    def __init__(self, brands: Sequence[BrandSettings]) -> None:
        self.brands = [brand for brand in brands if brand.listens_on(NETWORK)]
        self.matcher = BrandMatcher(self.brands, NETWORK)
        self.handles = {brand.name: [h.casefold() for h in brand.handles(NETWORK)] for brand in self.brands}
        # did -> brand, filled by `own()` as the brands' handles resolve.
        self.dids: dict[str, str] = {}

    def own(self, brand: str, did: str) -> None:
        self.dids.setdefault(did, brand)

    def brand_of(self, post: PostRecord, profile: Callable[[str], Profile]) -> str | None:
        owner = self.dids.get(post.did)
        if owner is not None:
            return owner
        for uri in (post.parent_uri, post.root_uri):
            owner = self.dids.get(did_of(uri) or "")
            if owner is not None:
                return owner
        return self.matcher.first(_Candidate(post, profile))


def to_mention(post: PostRecord, *, brand: str, author: Profile, is_own: bool) -> NewMention:
    handle = post.handle or author.handle
    with malformed_if_refused():
        return NewMention(
            network=NETWORK,
            native_id=post.uri,
            conversation_id=post.conversation_id,
            text=post.text,
            created_at=post.created_at,
            author=Author(
                native_user_id=post.did,
                handle=handle,
                display_name=post.display_name or author.display_name,
                followers=max(0, author.followers),
            ),
            language=post.langs[0] if post.langs else None,
            reply_to_native_id=post.parent_uri,
            brand=brand,
            is_own=is_own,
            raw=post.raw,
        )
