"""What the Bluesky sandbox serves, in Bluesky's own shapes: dids, handles, TIDs, CIDs, at:// URIs, Jetstream v1
events, AppView post and profile views, and session JWTs atproto can decode.

Accounts come from the replay's `Directory` (the same synthetic people as the X sandbox), re-skinned: a handle
is the X username lowercased under `.bsky.social`, a did is derived from it, so a replay always shows the same
people."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from listener.sandbox.replay import SandboxUser

POST = "app.bsky.feed.post"
_B32_SORT = "234567abcdefghijklmnopqrstuvwxyz"
_HANDLE_UNSAFE = re.compile(r"[^a-z0-9-]")


@dataclass(frozen=True)
class SkyUser:
    did: str
    handle: str
    display_name: str
    followers: int
    follows: int
    posts: int
    is_brand: bool = False


@dataclass(frozen=True)
class Ref:
    uri: str
    cid: str

    def as_json(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


@dataclass(frozen=True)
class SkyPost:
    """A post that exists on the fake network; also what the term language sees (`listener.terms.Matchable`)."""

    uri: str
    cid: str
    rkey: str
    text: str
    author: SkyUser
    time_us: int
    created_at: datetime
    root: Ref | None = None
    parent: Ref | None = None
    parent_author: SkyUser | None = None
    lang: str | None = "en"
    # "replay", "push" or "reply" (made through createRecord): where it came from, for tests and the demo.
    origin: str = "replay"
    # The record exactly as its author's app wrote it, when that is not what the fields above render: any
    # account can write any JSON into its repo, and Jetstream and search pass it on as is.
    as_written: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def ref(self) -> Ref:
        return Ref(self.uri, self.cid)

    @property
    def author_username(self) -> str:
        return self.author.handle

    @property
    def conversation_id(self) -> str:
        return self.root.uri if self.root else self.uri

    @property
    def in_reply_to_username(self) -> str | None:
        return self.parent_author.handle if self.parent_author else None

    @property
    def reply_to(self) -> str | None:
        return self.parent.uri if self.parent else None


def sky_handle(username: str) -> str:
    """The Bluesky handle the sandbox gives an X username (handles allow no underscores)."""
    slug = _HANDLE_UNSAFE.sub("-", username.casefold()).strip("-") or "someone"
    return f"{slug}.bsky.social"


def sky_user(user: SandboxUser) -> SkyUser:
    handle = sky_handle(user.username)
    return SkyUser(
        did=did_for(handle),
        handle=handle,
        display_name=user.name,
        followers=user.followers,
        follows=user.following,
        posts=user.tweet_count,
        is_brand=user.is_brand,
    )


def did_for(handle: str) -> str:
    digest = hashlib.sha256(f"did:{handle.casefold()}".encode("utf-8", "surrogatepass")).digest()
    return "did:plc:" + base64.b32encode(digest).decode().lower()[:24]


def tid(time_us: int, clock_id: int = 0) -> str:
    """A record key in atproto's TID shape: 53 bits of microseconds and 10 of clock id, base32-sortable."""
    value = (time_us << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_B32_SORT[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def cid_for(*parts: str) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def from_us(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us // 1_000_000, UTC).replace(microsecond=time_us % 1_000_000)


class Clock:
    """Jetstream's time_us: microseconds, strictly increasing, so every event has its own cursor position."""

    def __init__(self) -> None:
        self.last = 0

    def next(self, at_us: int | None = None) -> int:
        now = at_us if at_us is not None else int(time.time() * 1_000_000)
        self.last = max(now, self.last + 1)
        return self.last


def record(post: SkyPost) -> dict[str, Any]:
    if post.as_written is not None:
        return dict(post.as_written)
    body: dict[str, Any] = {"$type": POST, "text": post.text, "createdAt": iso(post.created_at)}
    if post.lang:
        body["langs"] = [post.lang]
    if post.root and post.parent:
        body["reply"] = {"root": post.root.as_json(), "parent": post.parent.as_json()}
    return body


def jetstream_event(post: SkyPost) -> dict[str, Any]:
    """A Jetstream v1 commit event for a created post."""
    return {
        "did": post.author.did,
        "time_us": post.time_us,
        "kind": "commit",
        "commit": {
            "rev": tid(post.time_us, 7),
            "operation": "create",
            "collection": POST,
            "rkey": post.rkey,
            "record": record(post),
            "cid": post.cid,
        },
    }


def delete_event(post: SkyPost, time_us: int) -> dict[str, Any]:
    return {
        "did": post.author.did,
        "time_us": time_us,
        "kind": "commit",
        "commit": {"rev": tid(time_us, 7), "operation": "delete", "collection": POST, "rkey": post.rkey},
    }


def identity_event(user: SkyUser, time_us: int) -> dict[str, Any]:
    return {
        "did": user.did,
        "time_us": time_us,
        "kind": "identity",
        "identity": {
            "did": user.did,
            "handle": user.handle,
            "seq": time_us // 1000,
            "time": iso(from_us(time_us)),
        },
    }


def profile_basic(user: SkyUser) -> dict[str, Any]:
    return {"did": user.did, "handle": user.handle, "displayName": user.display_name, "labels": []}


def profile_detailed(user: SkyUser) -> dict[str, Any]:
    return {
        **profile_basic(user),
        "description": "Official support account." if user.is_brand else "",
        "followersCount": user.followers,
        "followsCount": user.follows,
        "postsCount": user.posts,
        "indexedAt": "2023-04-01T00:00:00.000Z",
    }


def post_view(post: SkyPost, replies: int = 0) -> dict[str, Any]:
    return {
        "$type": "app.bsky.feed.defs#postView",
        "uri": post.uri,
        "cid": post.cid,
        "author": profile_basic(post.author),
        "record": record(post),
        "replyCount": replies,
        "repostCount": 0,
        "likeCount": 0,
        "quoteCount": 0,
        "indexedAt": iso(post.created_at),
        "labels": [],
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(did: str, scope: str, lifetime: float) -> str:
    """A JWT atproto can decode (it reads `exp`, never checks the signature)."""
    now = int(time.time())
    header = {"typ": "at+jwt" if scope != "com.atproto.refresh" else "refresh+jwt", "alg": "ES256K"}
    payload = {
        "scope": scope,
        "sub": did,
        "aud": "did:web:sandbox.local",
        "iat": now,
        "exp": now + int(lifetime),
    }
    parts = [_b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)]
    signature = _b64(hashlib.sha256(".".join(parts).encode()).digest())
    return ".".join([*parts, signature])


def jwt_subject(token: str) -> str | None:
    try:
        payload = token.split(".")[1]
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    subject = body.get("sub") if isinstance(body, dict) else None
    return subject if isinstance(subject, str) else None


def xrpc_error(error: str, message: str) -> dict[str, str]:
    return {"error": error, "message": message}
