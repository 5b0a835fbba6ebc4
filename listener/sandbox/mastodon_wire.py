"""The Mastodon JSON and HTML the sandbox sends: statuses, accounts, notifications, SSE frames, rate limits.

Shapes follow Mastodon 4.x: ids are strings of `(milliseconds << 16) | sequence`, `created_at` is ISO 8601 with
milliseconds, `content` is HTML (`<p>`, `<br />`, h-card mention links, hashtag links, shortened URL links with
`invisible`/`ellipsis` spans, `&amp;`-style entities), and `X-RateLimit-Reset` is an ISO 8601 timestamp."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from listener.sandbox import wire
from listener.sandbox.replay import SandboxUser, Snowflakes, iso_ms

REMOTE_DOMAIN = "example.social"
_TOKEN = re.compile(
    r"(?P<url>https?://[^\s<>\"]+)"
    r"|(?<![\w@/])@(?P<mention>[A-Za-z0-9_]+(?:@[A-Za-z0-9.-]+\.[A-Za-z]{2,})?)"
    r"|(?<![\w#&/])#(?P<tag>\w+)"
)


class MastodonIds(Snowflakes):
    """Mastodon's id shape: `(milliseconds since 1970 << 16) | sequence`, so ids sort by time."""

    def next(self, now_ms: int | None = None) -> tuple[int, int]:
        with self._lock:
            ms = max(now_ms if now_ms is not None else int(time.time() * 1000), self._last_ms)
            if ms == self._last_ms:
                self._seq += 1
                if self._seq >= 1 << 16:
                    ms, self._seq = ms + 1, 0
            else:
                self._seq = 0
            self._last_ms = ms
            return (ms << 16) | self._seq, ms


@dataclass(frozen=True)
class Status:
    id: str
    text: str  # what the author typed; `content` is rendered from it
    author: SandboxUser
    created_at: datetime
    root_id: str
    in_reply_to_id: str | None = None
    in_reply_to_account: SandboxUser | None = None
    lang: str | None = "en"
    tags: tuple[str, ...] = ()
    mentions: tuple[SandboxUser, ...] = ()
    # "replay", "push" or "reply" (posted through POST /api/v1/statuses).
    origin: str = "replay"
    # public, unlisted, private (followers only) or direct, as its author posted it.
    visibility: str = "public"
    # Written over the rendered JSON: what a remote server federated that no Mastodon would write itself.
    fields: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def acct(self) -> str:
        return acct(self.author)


def acct(user: SandboxUser) -> str:
    """Local accounts are `name`, remote ones `name@domain` (customers live on example.social)."""
    if user.is_brand:
        return user.username
    return user.username if "@" in user.username else f"{user.username}@{REMOTE_DOMAIN}"


def username(user: SandboxUser) -> str:
    return acct(user).split("@", 1)[0]


def profile_url(user: SandboxUser, base_url: str) -> str:
    name, _, domain = acct(user).partition("@")
    return f"https://{domain}/@{name}" if domain else f"{base_url}/@{name}"


def render_account(user: SandboxUser, base_url: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": username(user),
        "acct": acct(user),
        "display_name": user.name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": "2022-11-04T00:00:00.000Z",
        "note": "",
        "url": profile_url(user, base_url),
        "uri": profile_url(user, base_url),
        "avatar": f"{base_url}/avatars/original/missing.png",
        "avatar_static": f"{base_url}/avatars/original/missing.png",
        "header": f"{base_url}/headers/original/missing.png",
        "header_static": f"{base_url}/headers/original/missing.png",
        "followers_count": user.followers,
        "following_count": user.following,
        "statuses_count": user.tweet_count,
        "last_status_at": None,
        "emojis": [],
        "fields": [],
    }


def _link(url: str) -> str:
    scheme, _, rest = url.partition("://")
    shown = rest if len(rest) <= 30 else rest[:30]
    hidden = "" if len(rest) <= 30 else rest[30:]
    classes = "ellipsis" if hidden else ""
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{html.escape(scheme)}://</span>'
        f'<span class="{classes}">{html.escape(shown)}</span>'
        f'<span class="invisible">{html.escape(hidden)}</span></a>'
    )


def render_content(text: str, base_url: str, resolve: Callable[[str], SandboxUser | None]) -> str:
    """Mastodon's HTML for a plain-text post: paragraphs on blank lines, `<br />` on newlines, mentions,
    hashtags and links as Mastodon renders them, everything else escaped."""

    def inline(line: str) -> str:
        out: list[str] = []
        last = 0
        for match in _TOKEN.finditer(line):
            out.append(html.escape(line[last : match.start()]))
            last = match.end()
            if match["url"]:
                out.append(_link(match["url"]))
            elif match["mention"]:
                user = resolve(match["mention"])
                if user is None:  # Mastodon leaves a handle it cannot resolve as plain text
                    out.append(html.escape(match.group(0)))
                    continue
                out.append(
                    f'<span class="h-card" translate="no"><a href="{html.escape(profile_url(user, base_url))}" '
                    f'class="u-url mention">@<span>{html.escape(username(user))}</span></a></span>'
                )
            else:
                tag = match["tag"]
                out.append(
                    f'<a href="{base_url}/tags/{html.escape(tag.lower())}" class="mention hashtag" '
                    f'rel="tag">#<span>{html.escape(tag)}</span></a>'
                )
        out.append(html.escape(line[last:]))
        return "".join(out)

    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join("<p>" + "<br />".join(inline(line) for line in p.split("\n")) + "</p>" for p in paragraphs)


def mentioned_handles(text: str) -> list[str]:
    return [m["mention"] for m in _TOKEN.finditer(text) if m["mention"]]


def hashtags(text: str) -> list[str]:
    found: list[str] = []
    for match in _TOKEN.finditer(text):
        if match["tag"] and match["tag"].lower() not in found:
            found.append(match["tag"].lower())
    return found


def render_status(
    status: Status, base_url: str, resolve: Callable[[str], SandboxUser | None]
) -> dict[str, Any]:
    local = acct(status.author) == username(status.author)
    url = f"{profile_url(status.author, base_url)}/{status.id}"
    return {
        "id": status.id,
        "created_at": iso_ms(status.created_at),
        "in_reply_to_id": status.in_reply_to_id,
        "in_reply_to_account_id": status.in_reply_to_account.id if status.in_reply_to_account else None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": status.visibility,
        "language": status.lang,
        "uri": url if not local else f"{base_url}/users/{username(status.author)}/statuses/{status.id}",
        "url": url,
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "edited_at": None,
        "content": render_content(status.text, base_url, resolve),
        "reblog": None,
        "application": {"name": "Web", "website": None} if local else None,
        "account": render_account(status.author, base_url),
        "media_attachments": [],
        "mentions": [
            {"id": u.id, "username": username(u), "url": profile_url(u, base_url), "acct": acct(u)}
            for u in status.mentions
        ],
        "tags": [{"name": tag, "url": f"{base_url}/tags/{tag}"} for tag in status.tags],
        "emojis": [],
        "card": None,
        "poll": None,
        **(status.fields or {}),
    }


@dataclass(frozen=True)
class Notification:
    id: str
    status: Status
    created_at: datetime

    def render(self, base_url: str, resolve: Callable[[str], SandboxUser | None]) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "mention",
            "created_at": iso_ms(self.created_at),
            "group_key": f"ungrouped-{self.id}",
            "account": render_account(self.status.author, base_url),
            "status": render_status(self.status, base_url, resolve),
        }


def sse_event(event: str, data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else wire.dumps(data)
    # A str is sent as given (a test's odd bytes included); JSON is always valid UTF-8.
    return f"event: {event}\ndata: {payload}\n\n".encode("utf-8", "surrogatepass")


HEARTBEAT = b":thump\n"
HELLO = b":)\n"


def iso_us(moment: datetime) -> str:
    """The shape of Mastodon's X-RateLimit-Reset: microseconds and a literal Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RateLimit:
    """Mastodon's default budget: 300 requests per 5 minutes per account, on every REST call."""

    limit: int = 300
    window: float = 300.0
    remaining: int = 300
    reset_at: float = field(default_factory=lambda: time.time() + 300.0)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[bool, dict[str, str]]:
        with self._lock:
            now = time.time()
            if now >= self.reset_at:
                self.remaining, self.reset_at = self.limit, now + self.window
            allowed = self.remaining > 0
            if allowed:
                self.remaining -= 1
            return allowed, self.headers()

    def set(self, remaining: int, reset_in: float | None = None) -> None:
        with self._lock:
            self.remaining = max(0, remaining)
            self.reset_at = time.time() + (self.window if reset_in is None else reset_in)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": iso_us(datetime.fromtimestamp(self.reset_at, UTC)),
        }
