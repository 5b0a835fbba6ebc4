"""Everything that exists on the fake Reddit: things, each subreddit's listings, each user's comments; and the
replayed corpus re-skinned as Reddit (a conversation's first post a submission, every answer a comment)."""

from __future__ import annotations

import hashlib
import html
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from listener.sandbox.reddit_wire import Entry, IdCounter, Thing
from listener.sandbox.replay import Directory, SandboxTweet, from_ms

# Where the counters start: ids of the length Reddit's have today, moved on by one per millisecond of wall
# clock, so a sandbox started again never hands out ids below those a desk has already stored a cursor at.
_FIRST_COMMENT = 45_000_000_000
_FIRST_SUBMISSION = 1_900_000_000
_CLOCK_EPOCH = 1_700_000_000
_AT_HANDLE = re.compile(r"(?<![\w@/])@(\w+)")
_TITLE_MAX = 120


def reddit_text(tweet_text: str) -> str:
    """A corpus tweet as a Redditor would write it: plain characters (the corpus keeps X's HTML escapes) and
    `u/name` where X wrote `@name`."""
    return _AT_HANDLE.sub(r"u/\1", html.unescape(tweet_text))


def _title_and_text(text: str) -> tuple[str, str]:
    if len(text) <= _TITLE_MAX:
        return text, ""
    cut = max(text.rfind(mark, 0, _TITLE_MAX) for mark in (". ", "? ", "! "))
    return (text[: cut + 1] if cut > 20 else text[: _TITLE_MAX - 1] + "…"), text


class Things:
    def __init__(self, directory: Directory, subreddits: Sequence[str]) -> None:
        self.directory = directory
        self.subreddits = list(subreddits)
        self.posted: list[Thing] = []
        self.by_fullname: dict[str, Thing] = {}
        self.by_user: dict[str, list[Entry]] = {}
        self._by_tweet: dict[str, Thing] = {}
        self._listings: dict[tuple[str, str], list[Entry]] = {}
        self._names: dict[str, str] = {}
        offset = int((time.time() - _CLOCK_EPOCH) * 1000)
        self._comment_ids = IdCounter(_FIRST_COMMENT + offset)
        self._submission_ids = IdCounter(_FIRST_SUBMISSION + offset)
        for name in self.subreddits:
            self.ensure_subreddit(name)

    def ensure_subreddit(self, name: str) -> str:
        key = name.casefold()
        if key not in self._names:
            self._names[key] = name
            self._listings[(key, "comments")] = []
            self._listings[(key, "new")] = []
        return self._names[key]

    def listing(self, subreddit: str, which: str) -> list[Entry] | None:
        """A subreddit's 'comments' or 'new' listing, oldest first; None for a subreddit that does not exist."""
        return self._listings.get((subreddit.casefold(), which))

    def new_thing(
        self,
        text: str,
        author_handle: str,
        *,
        subreddit: str,
        parent: Thing | None,
        title: str | None,
        origin: str,
        created_ms: int | None = None,
    ) -> Thing:
        """A comment answering `parent`, or else a submission (titled `title`, or by the text itself)."""
        author = self.directory.get(author_handle) or self.directory.person(author_handle)
        created = from_ms(created_ms if created_ms is not None else int(time.time() * 1000))
        if parent is not None:
            return Thing(
                kind="t1",
                id=self._comment_ids.next(),
                subreddit=parent.subreddit,
                author=author,
                created=created,
                body=text,
                link_id=parent.conversation,
                parent_id=parent.fullname,
                origin=origin,
            )
        head, body = (title, text) if title is not None else _title_and_text(text)
        return Thing(
            kind="t3",
            id=self._submission_ids.next(),
            subreddit=self.ensure_subreddit(subreddit),
            author=author,
            created=created,
            title=head,
            selftext=body,
            origin=origin,
        )

    def from_tweet(self, tweet: SandboxTweet) -> Thing:
        parent = self._by_tweet.get(tweet.in_reply_to_id) if tweet.in_reply_to_id else None
        # A conversation stays in one subreddit; which one is fixed by its first post.
        digest = hashlib.sha256(tweet.conversation_id.encode()).digest()
        subreddit = self.subreddits[int.from_bytes(digest[:4], "big") % len(self.subreddits)]
        thing = self.new_thing(
            reddit_text(tweet.text),
            tweet.author.username,
            subreddit=subreddit,
            parent=parent,
            title=None,
            origin="replay",
            created_ms=int(tweet.created_at.timestamp() * 1000),
        )
        self._by_tweet[tweet.id] = thing
        return thing

    def emit(self, thing: Thing) -> None:
        """The thing now exists: in its subreddit's listing and its author's comments."""
        self.posted.append(thing)
        self.by_fullname[thing.fullname] = thing
        which = "comments" if thing.kind == "t1" else "new"
        entry = Entry(thing.fullname, thing.as_json())
        self._listings[(thing.subreddit.casefold(), which)].append(entry)
        if thing.kind == "t1":
            self.by_user.setdefault(thing.author.username.casefold(), []).append(entry)

    def delete(self, fullname: str) -> Thing:
        """The author deletes it: it stays where it was, as Reddit keeps it, `[deleted]` by `[deleted]` (a
        submission keeps its title), in listings and /api/info alike."""
        thing = self.by_fullname[fullname]
        text = "body" if thing.kind == "t1" else "selftext"
        gone = {"author": "[deleted]", "author_fullname": None, text: "[deleted]", f"{text}_html": None}
        deleted = replace(thing, fields={**(thing.fields or {}), **gone})
        self.by_fullname[fullname] = deleted
        self.posted = [deleted if t.fullname == fullname else t for t in self.posted]
        for entries in (*self._listings.values(), *self.by_user.values()):
            for at, entry in enumerate(entries):
                if entry.fullname == fullname:
                    entries[at] = Entry(fullname, deleted.as_json())
        return deleted

    def push_raw(self, child: Any, subreddit: str, kind: str) -> None:
        data = child.get("data") if isinstance(child, Mapping) else None
        name = data.get("name") if isinstance(data, Mapping) else None
        self._listings[(self.ensure_subreddit(subreddit).casefold(), kind)].append(
            Entry(name if isinstance(name, str) else None, child)
        )
