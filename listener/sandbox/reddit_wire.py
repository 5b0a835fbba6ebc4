"""The Reddit JSON shapes the sandbox sends: things (t1 comments, t3 submissions), Listings paged the way
Reddit pages them, error bodies and the x-ratelimit-* budget."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from listener.sandbox.replay import SandboxUser

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
# Reddit answers a listing with at most 100 items and keeps only about the newest 1000 of each.
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
LISTING_CAP = 1000


def base36(number: int) -> str:
    if number < 0:
        raise ValueError("base36 ids are never negative")
    digits = []
    while True:
        number, rest = divmod(number, 36)
        digits.append(_DIGITS[rest])
        if not number:
            return "".join(reversed(digits))


class IdCounter:
    """Reddit numbers comments and submissions separately, each in creation order."""

    def __init__(self, start: int) -> None:
        self._next = start

    def next(self) -> str:
        value = self._next
        self._next += 1
        return base36(value)


@dataclass(frozen=True)
class Thing:
    """One comment (t1) or submission (t3) on the fake Reddit."""

    kind: str  # "t1" or "t3"
    id: str  # base36, no prefix
    subreddit: str
    author: SandboxUser
    created: datetime
    body: str = ""  # a comment's text
    title: str = ""  # a submission's
    selftext: str = ""
    link_id: str = ""  # t3_<id> of the submission a comment belongs to
    parent_id: str = ""  # t1_ or t3_ fullname of what a comment answers
    # "replay", "push" or "reply" (posted through POST /api/comment).
    origin: str = "replay"
    # Written over the JSON's `data`: what a broken Reddit (or a cache in front of it) would send.
    fields: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def fullname(self) -> str:
        return f"{self.kind}_{self.id}"

    @property
    def text(self) -> str:
        """What a brand term is matched against: a comment's body, a submission's title and text."""
        return self.body if self.kind == "t1" else f"{self.title}\n\n{self.selftext}".strip()

    @property
    def conversation(self) -> str:
        return self.link_id if self.kind == "t1" else self.fullname

    @property
    def permalink(self) -> str:
        post = (self.link_id or self.fullname).removeprefix("t3_")
        tail = f"{self.id}/" if self.kind == "t1" else ""
        return f"/r/{self.subreddit}/comments/{post}/_/{tail}"

    def as_json(self) -> dict[str, Any]:
        """The child object of a Listing, as Reddit sends it with raw_json=1 (nothing HTML-escaped)."""
        created = self.created.timestamp()
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.fullname,
            "author": self.author.username,
            "author_fullname": f"t2_{base36(int(self.author.id))}",
            "subreddit": self.subreddit,
            "subreddit_name_prefixed": f"r/{self.subreddit}",
            "subreddit_id": "t5_" + base36(sum(map(ord, self.subreddit.casefold())) + 10_000),
            "created": created,
            "created_utc": created,
            "permalink": self.permalink,
            "score": 1,
            "ups": 1,
            "downs": 0,
            "edited": False,
            "distinguished": "moderator" if self.author.is_brand else None,
            "stickied": False,
            "locked": False,
            "archived": False,
        }
        if self.kind == "t1":
            data.update(
                body=self.body,
                body_html=_html(self.body),
                link_id=self.link_id,
                parent_id=self.parent_id,
                is_submitter=False,
                depth=0 if self.parent_id.startswith("t3_") else 1,
            )
        else:
            data.update(
                title=self.title,
                selftext=self.selftext,
                selftext_html=_html(self.selftext) if self.selftext else None,
                is_self=True,
                num_comments=0,
                url=f"https://www.reddit.com{self.permalink}",
                domain=f"self.{self.subreddit}",
                over_18=False,
                spoiler=False,
            )
        data.update(self.fields or {})
        return {"kind": self.kind, "data": data}


def _html(markdown: str) -> str:
    return f'<div class="md"><p>{escape(markdown)}</p>\n</div>'


@dataclass
class Entry:
    """A listing position: a real thing, or a malformed child a test put there (`fullname` None when it has
    no usable name)."""

    fullname: str | None
    payload: Any


def listing(children: Sequence[Any], *, after: str | None, before: str | None) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {
            "after": after,
            "before": before,
            "dist": len(children),
            "modhash": None,
            "geo_filter": "",
            "children": list(children),
        },
    }


def page(
    entries: Sequence[Entry], *, limit: int, after: str | None, before: str | None, cap: int = LISTING_CAP
) -> dict[str, Any]:
    """A page of `entries` (oldest first) the way Reddit pages a listing: newest first; `after=X` the items
    older than X, `before=X` the `limit` items just newer than X; an anchor that is not (or no longer) in the
    listing answers an empty page, as Reddit does."""
    newest_first = list(reversed(entries[-cap:])) if cap else []
    names = [entry.fullname for entry in newest_first]
    anchored = after or before
    if anchored:
        if anchored not in names:
            return listing([], after=None, before=None)
        at = names.index(anchored)
        if after:
            start = at + 1
            chosen = newest_first[start : start + limit]
        else:
            start = max(0, at - limit)
            chosen = newest_first[start:at]
    else:
        start = 0
        chosen = newest_first[:limit]
    end = start + len(chosen)
    more_older = end < len(newest_first)
    more_newer = bool(anchored) and start > 0
    named = [entry.fullname for entry in chosen if entry.fullname]
    return listing(
        [entry.payload for entry in chosen],
        after=named[-1] if more_older and named else None,
        before=named[0] if more_newer and named else None,
    )


def error_body(status: int, message: str) -> bytes:
    """Reddit's error shape for API calls: `{"message": ..., "error": status}`."""
    return json.dumps({"message": message, "error": status}).encode()


def api_errors(*errors: tuple[str, str, str | None]) -> dict[str, Any]:
    """The `api_type=json` answer of a POST Reddit refused: `{"json": {"errors": [[code, message, field]]}}`."""
    return {"json": {"errors": [list(error) for error in errors]}}


@dataclass
class Budget:
    """Reddit's OAuth budget: `limit` calls per `window` seconds, told in x-ratelimit-remaining/-used/-reset
    (the seconds left in the window). Spent, every call answers 429 until the window ends."""

    limit: int = 1000
    window: float = 600.0
    used: int = 0
    remaining: int = 1000
    _ends: float = field(default_factory=lambda: time.monotonic() + 600.0)

    def __post_init__(self) -> None:
        self.remaining = self.limit
        self._ends = time.monotonic() + self.window

    def _roll(self) -> None:
        if time.monotonic() >= self._ends:
            self._ends = time.monotonic() + self.window
            self.used, self.remaining = 0, self.limit

    def take(self) -> tuple[bool, dict[str, str]]:
        """Spend one call: whether it is allowed, and the headers to answer with."""
        self._roll()
        allowed = self.remaining > 0
        if allowed:
            self.remaining -= 1
            self.used += 1
        return allowed, self.headers()

    def headers(self) -> dict[str, str]:
        reset = max(0, int(self._ends - time.monotonic() + 0.999))
        return {
            "x-ratelimit-remaining": f"{float(self.remaining):.1f}",
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(reset),
        }

    def set(self, remaining: int, reset_in: float | None = None) -> None:
        self._roll()
        self.remaining = max(0, remaining)
        self.used = max(0, self.limit - self.remaining)
        if reset_in is not None:
            self._ends = time.monotonic() + reset_in
