"""The store's model of a mention is the one gate for every field, the same for every network: what it lets
through, both back ends store; what it cannot make true, it refuses with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from sqlmodel import select

from store.incoming import Author, NewMention, ScoredMention
from store.mentions import get_cursor, is_newer, save_mentions
from store.models import Identity, Mention

MON = datetime(2026, 11, 16, 9, tzinfo=UTC)
# The bounds (store.incoming): identity.followers is a 4-byte integer; a text keeps 40,000 characters.
MAX_FOLLOWERS, MAX_TEXT = 2**31 - 1, 40_000


def mention(native_id: str = "1", **fields) -> NewMention:
    values = {
        "network": "mastodon",
        "native_id": native_id,
        "conversation_id": "c1",
        "text": "@acme my order never came",
        "created_at": MON,
        "author": Author(native_user_id="u1", handle="jane", display_name="Jane"),
        "brand": "acme",
    }
    return NewMention(**(values | fields))


def test_what_postgresql_refused_and_sqlite_overflowed_on_is_stored_on_both(any_store):
    # Followers past a 4-byte integer (and past SQLite's 8 bytes), a Mastodon display name and acct over the
    # columns' 200 characters, a language "code" over 20, an 850 KB post, a payload of megabytes.
    huge = " ".join(f"w{i}" for i in range(120_000))
    odd = mention(
        text=huge,
        author=Author(
            native_user_id="u1",
            handle="j" * 300 + "@very.long.instance",
            display_name="Jane " * 100,
            followers=10**20,
        ),
        language="en-" + "x" * 40,
        raw={"content": huge, "media": ["x" * 300_000] * 10},
    )
    with any_store.write() as s:
        result = save_mentions([ScoredMention(mention=odd)], session=s)
    assert result.rejected == [] and len(result.stored) == 1
    with any_store.read() as s:
        stored = s.exec(select(Mention)).one()
        identity = s.exec(select(Identity)).one()
    assert identity.followers == MAX_FOLLOWERS
    assert len(identity.handle) == 200 and identity.handle.startswith("jjj")
    assert len(identity.display_name) == 200
    assert stored.language is None
    # The text keeps its first 40,000 characters and says it was cut; the search index takes it.
    assert len(stored.text) == MAX_TEXT and stored.text.startswith("w0 w1 w2")
    assert stored.text.endswith(f"it has {len(huge):,} characters]")
    assert "earful_note" in stored.raw


@pytest.mark.parametrize(
    "bad",
    ["¹²³", "١٢٣", "12 3", "", "9" * 101, "12\x1b]0;pwned\x07"],
    ids=["superscript", "arabic-indic", "space", "empty", "too-long", "escape"],
)
def test_an_id_that_is_not_an_id_makes_the_mention_invalid_with_a_reason(bad):
    for field in ("native_id", "conversation_id", "reply_to_native_id"):
        with pytest.raises(ValidationError, match="is not an id the store can keep"):
            mention(**{field: bad})
    with pytest.raises(ValidationError, match="is not an id the store can keep"):
        mention(author=Author(native_user_id=bad))


def test_a_date_no_clock_gives_is_refused_and_one_from_the_future_is_when_we_got_it():
    with pytest.raises(ValidationError, match="outside the years a date can have"):
        mention(created_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))
    with pytest.raises(ValidationError, match="before any post could have been written"):
        mention(created_at=datetime(1969, 12, 31, tzinfo=UTC))
    future = mention(created_at=datetime(2400, 1, 1, tzinfo=UTC))
    assert future.created_at == future.received_at


def test_cursors_compare_as_numbers_only_when_they_are_ascii_digits(any_store):
    assert is_newer("10", "9") and not is_newer("9", "10")
    # "¹²³" passes str.isdigit() and then int() fails: it must compare, not raise.
    assert is_newer("¹²³", "5") in (True, False)
    first = mention("1", source="mastodon:tag:acme", cursor="5")
    odd = mention("2", source="mastodon:tag:acme", cursor="¹²³")
    with any_store.write() as s:
        save_mentions([ScoredMention(mention=first), ScoredMention(mention=odd)], session=s)
    with any_store.read() as s:
        assert get_cursor("mastodon:tag:acme", session=s) in ("5", "¹²³")
        assert len(s.exec(select(Mention)).all()) == 2


def test_a_cursor_the_store_cannot_keep_leaves_the_mention_without_one():
    item = mention()
    item.source, item.cursor = "x:search:acme", "1" * 201
    assert (item.source, item.cursor) == ("x:search:acme", None)
    item.cursor = "12345"
    assert item.cursor == "12345"
