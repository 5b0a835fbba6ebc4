"""What the X sandbox replays and who posts it: the bundled TWCS conversations, ids, and synthetic accounts.

Names and follower counts of customers are synthetic (the corpus anonymised customers to integers): each is
derived deterministically from the author id, so a replay always shows the same people with the same reach.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

DATA = Path(__file__).parent / "data" / "twcs.jsonl.gz"
# X's snowflake epoch (2010-11-04T01:42:54.657Z).
TWEPOCH_MS = 1288834974657

_FIRST = (
    "Alex Sam Jordan Taylor Morgan Casey Riley Jamie Avery Quinn Maria Jose Wei Aisha Omar Fatima Lucas "
    "Emma Noah Olivia Liam Mia Ethan Zoe Priya Arjun Hana Kenji Chloe Mateo Sofia Leah Ivan Nina Tom Grace "
    "Ben Ruby Dan Ella Sean Amara Tariq Ines Felix Maya Jonas Lena Kofi Yara"
).split()
_LAST = (
    "Smith Garcia Chen Patel Okafor Müller Rossi Kim Nguyen Silva Cohen Novak Haddad Jones Brown Lopez Khan "
    "Sato Walsh Dubois Berg Costa Ali Murphy Ito Fischer Moreau Santos Wright Evans"
).split()


@dataclass(frozen=True)
class SandboxUser:
    id: str
    username: str
    name: str
    followers: int
    following: int
    tweet_count: int
    is_brand: bool = False


@dataclass(frozen=True)
class SandboxTweet:
    id: str
    text: str
    author: SandboxUser
    created_at: datetime
    conversation_id: str
    in_reply_to_id: str | None = None
    in_reply_to_user: SandboxUser | None = None
    lang: str | None = "en"
    # "replay", "push" or "reply": where it came from, for tests and the demo's narration.
    origin: str = "replay"

    @property
    def author_username(self) -> str:
        return self.author.username

    @property
    def in_reply_to_username(self) -> str | None:
        return self.in_reply_to_user.username if self.in_reply_to_user else None

    @property
    def created_at_iso(self) -> str:
        return iso_ms(self.created_at)


def from_ms(ms: int) -> datetime:
    # Integer arithmetic: ms / 1000 as a float can fall a microsecond short and print the millisecond before.
    return datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)


def iso_ms(moment: datetime) -> str:
    """X's timestamp shape: UTC, milliseconds, a literal Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Snowflakes:
    """Monotonic X-style ids: ((ms - epoch) << 22) | sequence."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._seq = 0

    def next(self, now_ms: int | None = None) -> tuple[int, int]:
        """A new id and the millisecond it belongs to (the tweet's created_at)."""
        with self._lock:
            ms = max(now_ms if now_ms is not None else int(time.time() * 1000), self._last_ms)
            if ms == self._last_ms:
                self._seq += 1
                if self._seq >= 1 << 12:
                    ms, self._seq = ms + 1, 0
            else:
                self._seq = 0
            self._last_ms = ms
            return ((ms - TWEPOCH_MS) << 22) | self._seq, ms


def _stable_int(*parts: str) -> int:
    return int.from_bytes(
        hashlib.sha256(":".join(parts).encode("utf-8", "surrogatepass")).digest()[:8], "big"
    )


class Directory:
    """Every account the sandbox knows: brands by handle, customers by corpus author id or pushed handle."""

    def __init__(self, brands: tuple[str, ...] = ()) -> None:
        self._by_username: dict[str, SandboxUser] = {}
        self.brand_handles: dict[str, str] = {}
        for handle in brands:
            self.brand(handle)

    def get(self, username: str) -> SandboxUser | None:
        return self._by_username.get(username.casefold())

    def brand(self, handle: str) -> SandboxUser:
        known = self.get(handle)
        if known is not None:
            return known
        rng = random.Random(f"brand:{handle.casefold()}")
        user = SandboxUser(
            id=str(100_000_000 + _stable_int("brand", handle.casefold()) % 900_000_000),
            username=handle,
            name=handle,
            followers=int(10 ** rng.uniform(4.7, 6.5)),
            following=rng.randint(10, 5000),
            tweet_count=rng.randint(50_000, 2_000_000),
            is_brand=True,
        )
        self.brand_handles[handle.casefold()] = handle
        return self._add(user)

    def customer(self, author_id: str) -> SandboxUser:
        """A corpus customer: `user<author_id>`, with a synthetic name and a heavy-tailed follower count."""
        digits = author_id.isascii() and author_id.isdigit()
        return self._customer(f"user{author_id}", author_id if digits else None)

    def person(self, username: str) -> SandboxUser:
        """Someone a test or the demo pushes a tweet as (any handle that is not a known brand)."""
        known = self.get(username)
        return known if known is not None else self._customer(username, None)

    def _customer(self, username: str, author_id: str | None) -> SandboxUser:
        known = self.get(username)
        if known is not None:
            return known
        seed = author_id or username.casefold()
        # Bytes, so that any handle a test or a client sends seeds one (a lone surrogate has no UTF-8).
        rng = random.Random(f"person:{seed}".encode("utf-8", "surrogatepass"))
        # Lognormal reach: a median in the low hundreds, a few percent past 10k; plus a rare influencer.
        followers = int(rng.lognormvariate(5.5, 1.9))
        if rng.random() < 0.003:
            followers = int(10 ** rng.uniform(5.0, 6.3))
        user = SandboxUser(
            id=author_id or str(10**12 + _stable_int("person", seed) % (9 * 10**12)),
            username=username,
            name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            followers=followers,
            following=int(rng.lognormvariate(5.0, 1.0)),
            tweet_count=int(rng.lognormvariate(7.0, 1.5)),
        )
        return self._add(user)

    def _add(self, user: SandboxUser) -> SandboxUser:
        self._by_username[user.username.casefold()] = user
        return user


@dataclass(frozen=True)
class ReplayRow:
    tweet_id: int
    author_id: str
    inbound: bool
    text: str
    in_response_to_tweet_id: int | None


def load_rows(path: Path = DATA) -> list[ReplayRow]:
    """The bundled conversations, already in replay order (a reply never before its parent)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [
            ReplayRow(
                tweet_id=int(row["tweet_id"]),
                author_id=str(row["author_id"]),
                inbound=bool(row["inbound"]),
                text=str(row["text"]),
                in_response_to_tweet_id=row["in_response_to_tweet_id"],
            )
            for row in map(json.loads, lines)
        ]


_ANONYMISED_MENTION = re.compile(r"(?<![\w@])@(\d+)\b")


@dataclass
class Replay:
    """Turns corpus rows into new tweets, one at a time, remapping reply links onto the new ids.

    `holds` (customer, brand): seconds a reply waits after its parent was posted. With holds, a conversation
    unfolds at a human rhythm while new conversations keep arriving at the pace: a complaint stays unanswered
    long enough for a responder to reach it first. (0, 0) replays strictly in corpus order.
    """

    rows: list[ReplayRow]
    directory: Directory
    holds: tuple[float, float] = (0.0, 0.0)
    position: int = 0
    _new_ids: dict[int, SandboxTweet] = field(default_factory=dict)
    _posted_at: dict[int, float] = field(default_factory=dict)
    _done: set[int] = field(default_factory=set)

    # How far ahead of the oldest waiting reply to look for something ready: wide enough that new
    # conversations keep arriving while many replies are held.
    WINDOW = 3000

    def __post_init__(self) -> None:
        self._in_corpus = {row.tweet_id for row in self.rows}
        for row in self.rows:
            if not row.inbound:
                self.directory.brand(row.author_id)

    @property
    def remaining(self) -> int:
        return len(self.rows) - len(self._done)

    def restart(self) -> None:
        """From the top again: the same conversations, posted anew with new ids."""
        self.position = 0
        self._new_ids.clear()
        self._posted_at.clear()
        self._done.clear()

    def _ready(self, now: float | None) -> int | None:
        """The first row, in corpus order, that may be posted at `now` (None: ignore the holds)."""
        for index in range(self.position, min(len(self.rows), self.position + self.WINDOW)):
            if index in self._done:
                continue
            row = self.rows[index]
            parent = row.in_response_to_tweet_id
            if now is None or parent is None or parent not in self._in_corpus:
                return index
            posted = self._posted_at.get(parent)
            if posted is not None and now - posted >= self.holds[0 if row.inbound else 1]:
                return index
        return None

    def next_tweet(
        self, snowflakes: Snowflakes, now: float | None = None, at_ms: int | None = None
    ) -> SandboxTweet | None:
        index = self._ready(now)
        if index is None:
            return None
        row = self.rows[index]
        self._done.add(index)
        while self.position in self._done:
            self.position += 1
        self._posted_at[row.tweet_id] = time.monotonic() if now is None else now
        new_id, ms = snowflakes.next(at_ms)
        author = (
            self.directory.brand(row.author_id) if not row.inbound else self.directory.customer(row.author_id)
        )
        parent = self._new_ids.get(row.in_response_to_tweet_id) if row.in_response_to_tweet_id else None
        tweet = SandboxTweet(
            id=str(new_id),
            # The corpus wrote customers' handles as their anonymised ids; the sandbox calls them user<id>.
            text=_ANONYMISED_MENTION.sub(r"@user\1", row.text),
            author=author,
            created_at=from_ms(ms),
            conversation_id=parent.conversation_id if parent else str(new_id),
            in_reply_to_id=parent.id if parent else None,
            in_reply_to_user=parent.author if parent else None,
        )
        self._new_ids[row.tweet_id] = tweet
        return tweet
