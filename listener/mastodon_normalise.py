"""Mastodon statuses as earful mentions: HTML content to faithful plain text, authors, brands, threads.

Mastodon sends `content` as HTML (`<p>`, `<br />`, mention and hashtag links, links whose text is split into
`invisible`/`ellipsis` spans). The text a desk shows is what a reader sees plus what the spans hide: every
character of text is kept, entities are decoded, paragraphs and line breaks become newlines, and nothing is
ever interpreted as markup again."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from listener.config import BrandSettings
from listener.parsing import Malformed, ascii_digits, loads, malformed_if_refused
from listener.terms import And, BrandMatcher, Hashtag, Node, Or, Post, compile_query
from store.incoming import Author, NewMention

__all__ = [
    "Malformed",
    "NETWORK",
    "decode",
    "id_or_none",
    "id_order",
    "parse_id",
    "parse_status",
    "parse_time",
    "to_mention",
]

NETWORK = "mastodon"
# Mastodon's ids are decimal snowflakes; other servers' are flake ids (Pleroma, Akkoma: base62) or ULIDs
# (GoToSocial). An id goes back into request paths (`/statuses/:id/context`): nothing else is one.
_ID = re.compile(r"[0-9A-Za-z]{1,40}")

_PARAGRAPH = {"p", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol"}
_LINE = {"li", "div", "tr"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.pending = ""  # the break owed before the next text: "", "\n" or "\n\n"
        self.pre = 0

    def _owe(self, brk: str) -> None:
        if self.parts and len(brk) > len(self.pending):
            self.pending = brk

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append(self.pending or "")
            self.pending = ""
            self.parts.append("\n")
        elif tag in _PARAGRAPH:
            self._owe("\n\n")
            self.pre += tag == "pre"
        elif tag in _LINE:
            self._owe("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _PARAGRAPH:
            self._owe("\n\n")
            self.pre -= tag == "pre" and self.pre > 0
        elif tag in _LINE:
            self._owe("\n")

    def handle_data(self, data: str) -> None:
        if not self.pre:
            # Source newlines in HTML are layout, not text (a browser shows a space).
            data = data.replace("\r\n", " ").replace("\n", " ")
            if self.pending and not data.strip():
                return
        if self.pending:
            self.parts.append(self.pending)
            self.pending = ""
            data = data.lstrip(" ") if not self.pre else data
        self.parts.append(data)

    def text(self) -> str:
        lines = "".join(self.parts).split("\n")
        return "\n".join(line.rstrip(" ") for line in lines).strip()


def html_to_text(content: str) -> str:
    """Mastodon's HTML `content` as the plain text a reader sees (see the module docstring)."""
    parser = _Text()
    parser.feed(content)
    parser.close()
    return parser.text()


def hashtags_in_terms(terms: Iterable[str]) -> list[str]:
    """The `#hashtags` a brand's terms look for (not the negated ones), lower-cased, without '#'."""
    found: list[str] = []

    def walk(node: Node) -> None:
        if isinstance(node, Hashtag):
            tag = node.tag.lower()
            if tag not in found:
                found.append(tag)
        elif isinstance(node, And | Or):
            for part in node.parts:
                walk(part)

    for term in terms:
        if term.strip():
            walk(compile_query(term).root)
    return found


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise Malformed(f"created_at is {str(value)[:40]!r}, not an ISO 8601 timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(f"created_at {value[:40]!r} is not an ISO 8601 timestamp") from None
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+05:00 falls before year 1 in UTC
        raise Malformed(f"created_at {value[:40]!r} is outside the years a date can have") from None


def parse_id(value: Any, what: str) -> str:
    """An id as a server writes it (a string; some old servers wrote numbers), or Malformed."""
    found = id_or_none(value)
    if found is None:
        raise Malformed(f"{what} is {str(value)[:40]!r}, not an id")
    return found


def id_or_none(value: object) -> str | None:
    """The id (as `parse_id` reads it), or None for anything no server writes as one."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def id_order(native_id: str) -> tuple[int, int, str]:
    """Where an id stands among a server's ids: decimal ids by number (they have different lengths), any
    other (a flake id, a ULID, or something no server sends) after them, as text."""
    return (0, int(native_id), "") if ascii_digits(native_id) else (1, 0, native_id)


def decode(data: str | bytes, what: str) -> Any:
    """A stream event's data or a REST answer as JSON, or Malformed saying why not."""
    return loads(data, what)


@dataclass(frozen=True)
class ParsedStatus:
    native_id: str
    text: str
    created_at: datetime
    author: Author
    acct: str
    language: str | None
    reply_to: str | None
    reply_to_acct: str | None
    raw: dict[str, Any]


def parse_status(status: Any) -> ParsedStatus | None:
    """A status as earful reads it; None for a boost (the boosted status is not a new mention). Raises
    Malformed when a field earful needs is missing or of the wrong kind."""
    if not isinstance(status, dict):
        raise Malformed(f"a status must be a JSON object, not {type(status).__name__}")
    if status.get("reblog"):
        return None
    native_id = parse_id(status.get("id"), "id")
    account = status.get("account")
    if not isinstance(account, dict):
        raise Malformed(f"status {native_id}: account is missing")
    acct = account.get("acct")
    if not isinstance(acct, str) or not acct:
        raise Malformed(f"status {native_id}: account.acct is missing")
    content = status.get("content")
    if not isinstance(content, str):
        raise Malformed(f"status {native_id}: content is missing")
    text = html_to_text(content)
    spoiler = status.get("spoiler_text")
    if isinstance(spoiler, str) and spoiler.strip():
        # A content warning is part of what the author said, shown first.
        text = f"{spoiler.strip()}\n\n{text}" if text else spoiler.strip()
    reply_to = status.get("in_reply_to_id")
    reply_to_account = status.get("in_reply_to_account_id")
    reply_to_acct = None
    mentions = status.get("mentions")
    for mention in mentions if isinstance(mentions, list) else []:
        if isinstance(mention, dict) and str(mention.get("id")) == str(reply_to_account):
            reply_to_acct = str(mention.get("acct") or "") or None
    followers = account.get("followers_count")
    language = status.get("language")
    user_id = parse_id(account.get("id"), f"status {native_id}: account.id")
    with malformed_if_refused():
        author = Author(
            native_user_id=user_id,
            handle=acct,
            display_name=str(account.get("display_name") or ""),
            followers=followers if isinstance(followers, int) and not isinstance(followers, bool) else 0,
        )
    return ParsedStatus(
        native_id=native_id,
        text=text,
        created_at=parse_time(status.get("created_at")),
        author=author,
        acct=acct,
        language=language if isinstance(language, str) and language else None,
        reply_to=parse_id(reply_to, "in_reply_to_id") if reply_to is not None else None,
        reply_to_acct=reply_to_acct,
        raw=status,
    )


class Audience:
    """Which brand a status is for, and whether the brand wrote it. Brands without "mastodon" in their
    `networks` are left out."""

    def __init__(self, brands: Sequence[BrandSettings], base_url: str) -> None:
        self.brands = [brand for brand in brands if brand.listens_on(NETWORK)]
        self.matcher = BrandMatcher(self.brands, NETWORK)
        self.host = (urlsplit(base_url).hostname or "").casefold()

    def owner(self, acct: str) -> str | None:
        """The brand whose own account this is: `name` is local to our server, `name@domain` anywhere."""
        wanted = acct.casefold()
        if "@" not in wanted:
            wanted = f"{wanted}@{self.host}"
        for brand in self.brands:
            for handle in brand.handles(NETWORK):
                handle = handle.casefold()
                if (handle if "@" in handle else f"{handle}@{self.host}") == wanted:
                    return brand.name
        return None

    def brand_for(self, parsed: ParsedStatus, conversation_id: str) -> tuple[str | None, bool]:
        owner = self.owner(parsed.acct)
        if owner is not None:
            return owner, True
        post = Post(
            text=parsed.text,
            author_username=parsed.acct,
            conversation_id=conversation_id,
            in_reply_to_username=parsed.reply_to_acct,
            lang=parsed.language,
        )
        return self.matcher.first(post), False


def to_mention(parsed: ParsedStatus, *, conversation_id: str, brand: str, is_own: bool) -> NewMention:
    with malformed_if_refused():
        return NewMention(
            network=NETWORK,
            native_id=parsed.native_id,
            conversation_id=conversation_id,
            text=parsed.text,
            created_at=parsed.created_at,
            author=parsed.author,
            language=parsed.language,
            reply_to_native_id=parsed.reply_to,
            brand=brand,
            is_own=is_own,
            raw=parsed.raw,
        )


Ancestors = Callable[[str], list[dict[str, Any]]]


class Conversations:
    """The root status of each reply chain seen, shared by every source of one server (a brand's reply seen
    on one stream joins the thread a customer started on another). Bounded: the oldest entries go first."""

    def __init__(self, limit: int = 200_000) -> None:
        self._roots: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self.limit = limit

    def known(self, status_id: str) -> str | None:
        with self._lock:
            return self._roots.get(status_id)

    def remember(self, status_id: str, root: str) -> None:
        with self._lock:
            self._roots[status_id] = root
            self._roots.move_to_end(status_id)
            while len(self._roots) > self.limit:
                self._roots.popitem(last=False)

    def guess(self, parsed: ParsedStatus) -> str:
        """The root without asking the server: known, or the parent (used for brand matching only)."""
        if parsed.reply_to is None:
            return parsed.native_id
        return self.known(parsed.reply_to) or self.known(parsed.native_id) or parsed.reply_to

    def root_of(self, parsed: ParsedStatus, ancestors: Ancestors) -> str:
        """The first status of the chain: from what was seen, else from the server's `/context` ancestors
        (`ancestors` may raise; a status whose parent cannot be seen starts at its parent)."""
        if parsed.reply_to is None:
            root = parsed.native_id
        else:
            root = self.known(parsed.reply_to) or self.known(parsed.native_id) or ""
            if not root:
                chain = ancestors(parsed.native_id)
                first = chain[0] if chain and isinstance(chain[0], dict) else {}
                root = parse_id(first.get("id"), "context ancestor id") if chain else parsed.reply_to
                for item in chain:
                    if isinstance(item, dict) and item.get("id") is not None:
                        self.remember(str(item["id"]), root)
        self.remember(parsed.native_id, root)
        return root
