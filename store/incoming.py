"""The one normalised shape every collector produces, and the scores the classifier adds to it.

Plain pydantic models (not tables), so they cross the bus as JSON unchanged. They are also the one gate every
field passes on its way to the store, the same for every network and both back ends: what can be bounded
truthfully is bounded here (a name cut to its column, a follower count clamped, a long text cut with a note),
and what cannot (an id that is not an id, a date no clock can give) makes the mention invalid: pydantic's
ValidationError, which the collector turns into a quarantined event with its reason.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from store.clock import utcnow

# NUL and unpaired surrogates: PostgreSQL refuses both in text and JSON, SQLite's string functions stop at a NUL,
# and neither means anything in a post. Every mention drops them here, whichever network it came from.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# The longest post any network lets a person write is a Reddit self post (40,000 characters; X's long posts stop
# at 25,000, Bluesky at 300 graphemes, Mastodon at 500 unless an instance raises it). Past that it is not a
# message to answer but a payload. The bound also keeps PostgreSQL's full-text index safe: a tsvector is at most
# 1 MB, and 40,000 characters make under 300 KB of one (240 KB measured when every character is a word of its
# own, the densest text there is), so no stored text can be refused by the index.
MAX_TEXT = 40_000
# The columns' lengths (store.models), the same on both back ends (SQLite would store longer, PostgreSQL not).
MAX_ID = 100
MAX_NAME = 200
MAX_BRAND = 100
MAX_LANGUAGE = 20
MAX_SOURCE = 200
MAX_CURSOR = 200
# identity.followers is a 4-byte integer on PostgreSQL. No account has over 2 billion followers, so a larger
# count is a wrong one: clamped, it still ranks the author as reaching as many people as anyone can.
MAX_FOLLOWERS = 2**31 - 1
# The network's payload, kept for the record: every string cut like the text, at most this many bytes of JSON
# in all (the size quarantine keeps of a bad event), so one mention always fits a JetStream message (1 MB).
MAX_RAW_BYTES = 256 * 1024
MAX_RAW_DEPTH = 64
# No post predates the Unix epoch, and dates far from now break date arithmetic (SLA clocks, report weeks).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# A date more than this after we received the post is the author's clock, not the post's time (Bluesky's
# createdAt is whatever the client wrote): such a mention is dated when it reached us, as Bluesky's own
# AppView sorts a post by the earlier of createdAt and the time it indexed it.
FUTURE_SKEW = timedelta(days=1)

# Ids and conversation ids as every network writes them: printable ASCII without spaces (X and Mastodon
# numbers, Pleroma flake ids, Bluesky at:// URIs and DIDs, Reddit fullnames). Anything else is not an id, and an
# id cannot be cut or changed without becoming another post's.
_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID}}}")
_CURSOR = re.compile(rf"[\x21-\x7e]{{1,{MAX_CURSOR}}}")
_NETWORK = re.compile(r"[a-z][a-z0-9_-]{0,19}")
# A BCP 47 language tag ("en", "pt-BR", "zh-Hant"), as short as the column.
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


def storable(text: str) -> str:
    return _UNSTORABLE.sub("", text)


def bounded_text(text: str) -> str:
    """`text` storable and at most MAX_TEXT characters; a longer one ends with a note of what was cut."""
    text = storable(text)
    if len(text) <= MAX_TEXT:
        return text
    note = f"\n\n[earful kept the first part of this post: it has {len(text):,} characters]"
    return text[: MAX_TEXT - len(note)] + note


def storable_json(value: Any, *, depth: int = 0) -> Any:
    """`value` with every string storable and at most MAX_TEXT characters; nesting past MAX_RAW_DEPTH goes."""
    if isinstance(value, str):
        return bounded_text(value)
    if depth >= MAX_RAW_DEPTH and isinstance(value, list | dict):
        return "[nested too deeply to keep]"
    if isinstance(value, list):
        return [storable_json(item, depth=depth + 1) for item in value]
    if isinstance(value, dict):
        return {
            storable(str(key))[:MAX_NAME]: storable_json(item, depth=depth + 1) for key, item in value.items()
        }
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities are not JSON: PostgreSQL's json type refuses them
    return value


def bounded_raw(value: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = storable_json(value)
    try:
        size = len(json.dumps(cleaned, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        return {"earful_note": "the network's payload could not be written as JSON; not kept"}
    if size > MAX_RAW_BYTES:
        return {
            "earful_note": f"the network's payload was {size:,} bytes of JSON, over {MAX_RAW_BYTES:,}: not kept"
        }
    return cleaned


def _check_id(value: str, what: str) -> str:
    value = storable(value)
    if not _ID.fullmatch(value):
        shown = value[:40] + ("..." if len(value) > 40 else "")
        raise ValueError(
            f"{what} {shown!r} is not an id the store can keep ({len(value)} characters; "
            f"an id is 1 to {MAX_ID} printable ASCII characters without spaces)"
        )
    return value


def _name(value: str) -> str:
    return storable(value)[:MAX_NAME]


class Author(BaseModel):
    native_user_id: str
    handle: str = ""
    display_name: str = ""
    followers: int = 0

    @field_validator("native_user_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _check_id(value, "the author's id")

    @field_validator("handle", "display_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _name(value)

    @field_validator("followers")
    @classmethod
    def _followers(cls, value: int) -> int:
        return min(max(value, 0), MAX_FOLLOWERS)


class NewMention(BaseModel):
    # Collectors set `source` and `cursor` after building a mention; those are checked on assignment too.
    model_config = ConfigDict(validate_assignment=True)

    network: str
    native_id: str
    conversation_id: str
    text: str
    created_at: datetime
    author: Author
    language: str | None = None
    reply_to_native_id: str | None = None
    brand: str = ""
    # Posted by one of the brand's own accounts: part of the thread, never an inbox item.
    is_own: bool = False
    # Thread context: a post above a mention in its conversation (what it replies to, up to the root), fetched
    # so the thread starts where the conversation did, though the brand's terms did not match it. Stored in
    # its thread and classified like any post, but history: it never alerts, reopens, re-times or re-ranks
    # the thread (store.mention_rows), and never carries a cursor.
    context: bool = False
    raw: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime = Field(default_factory=utcnow)
    # The source cursor this mention advances, stored in the same transaction as the mention itself.
    source: str | None = None
    cursor: str | None = None

    @field_validator("network")
    @classmethod
    def _network(cls, value: str) -> str:
        if not _NETWORK.fullmatch(value):
            raise ValueError(f"{value[:40]!r} is not a network name")
        return value

    @field_validator("native_id")
    @classmethod
    def _native_id(cls, value: str) -> str:
        return _check_id(value, "the post's id")

    @field_validator("conversation_id")
    @classmethod
    def _conversation_id(cls, value: str) -> str:
        return _check_id(value, "the conversation id")

    @field_validator("reply_to_native_id")
    @classmethod
    def _reply_to(cls, value: str | None) -> str | None:
        return None if value is None else _check_id(value, "the id of the post it replies to")

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return bounded_text(value)

    @field_validator("brand")
    @classmethod
    def _brand(cls, value: str) -> str:
        value = storable(value)
        if len(value) > MAX_BRAND:
            raise ValueError(f"the brand name is {len(value)} characters; the store keeps up to {MAX_BRAND}")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        # Not a language tag: unknown, which the classifier handles better than a wrong or cut code.
        if value is None or len(value) > MAX_LANGUAGE or not _LANGUAGE.fullmatch(value):
            return None
        return value

    @field_validator("created_at", "received_at")
    @classmethod
    def _moment(cls, value: datetime) -> datetime:
        try:
            moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is outside the years a date can have") from None
        if moment < EARLIEST:
            raise ValueError(f"{moment:%Y-%m-%d} is before any post could have been written")
        return moment

    @field_validator("raw")
    @classmethod
    def _raw(cls, value: dict[str, Any]) -> dict[str, Any]:
        return bounded_raw(value)

    # A source or cursor the store cannot keep never stops the mention: stored without it, the source simply
    # starts its next backfill from the cursor before (what is already stored is skipped).
    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return value if value is not None and 0 < len(storable(value)) == len(value) <= MAX_SOURCE else None

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        # Ids, timestamps and tokens, printable ASCII all: "¹²³" would sort after every real id as text and
        # hold the cursor there for good.
        return value if value is not None and _CURSOR.fullmatch(value) else None

    @model_validator(mode="after")
    def _not_after_received(self) -> NewMention:
        if self.created_at > self.received_at + FUTURE_SKEW:
            # Set through __dict__: assigning would validate (and run this) again.
            self.__dict__["created_at"] = self.received_at
        if self.context and self.cursor is not None:
            # Context is fetched by id, not read forward through a listing: it is no position to resume from
            # (listener/source.py's cursor rule), whoever set one.
            self.__dict__["source"] = self.__dict__["cursor"] = None
        return self


class Scores(BaseModel):
    sentiment: str | None = None
    sentiment_probs: dict[str, float] = Field(default_factory=dict)
    complaint: float | None = None
    severity: int | None = None
    severity_label: str | None = None
    urgency: int = 0
    urgency_tier: str = "low"
    entities: list[dict[str, Any]] = Field(default_factory=list)
    # The words that pushed urgency up (strongest first) and the risk categories the text matched.
    explanation: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)


class ScoredMention(BaseModel):
    mention: NewMention
    scores: Scores = Field(default_factory=Scores)
