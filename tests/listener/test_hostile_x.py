"""One hostile X line must not stop X: ids that only look like numbers, dates no date can hold, nesting as deep as
the stack, are put aside with their reason; the stream and the backfill go on (real tweepy against the sandbox,
a real SQLite store)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from x_testkit import wait_for

from listener.config import BrandSettings
from listener.x import cursor_key
from listener.x_backfill import since_id
from listener.x_normalise import Brands, Malformed, parse_stream_line
from store.models import SourceCursor

pytestmark = pytest.mark.timeout(60)
DESK = BrandSettings(name="desk", accounts={"x": ["Delta"]})
BRANDS = Brands.of([DESK])
SUPERSCRIPT = "\u00b9\u00b2\u00b3"  # passes str.isdigit(), fails int()
ARABIC_INDIC = "\u0661\u0662\u0663"  # int() reads it, as 123: no X id is written so


def line(*, rule_id: str = "1", users: Any = None, **fields: Any) -> bytes:
    tweet = {
        "id": "1790000000000000002",
        "text": "@Delta my bag",
        "author_id": "42",
        "conversation_id": "1790000000000000002",
        "created_at": "2024-05-13T09:15:02.000Z",
        **fields,
    }
    users = users if users is not None else [{"id": "42", "name": "Jane", "username": "jane"}]
    body = {
        "data": tweet,
        "includes": {"users": users},
        "matching_rules": [{"id": rule_id, "tag": "brand:desk"}],
    }
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (line(id=SUPERSCRIPT), "data.id '¹²³' is not an X id"),
        (line(id=ARABIC_INDIC), "is not an X id"),
        (line(author_id=SUPERSCRIPT, users=[{"id": SUPERSCRIPT, "username": "jane"}]), "data.author_id"),
        (line(conversation_id="1" * 41), "data.conversation_id"),
        (line(referenced_tweets=[{"type": "replied_to", "id": SUPERSCRIPT}]), "referenced_tweets"),
        (line(created_at="0001-01-01T00:00:00.000+05:00"), "outside the years a date can have"),
        (line(created_at="9999-12-31T23:59:59.999-05:00"), "outside the years a date can have"),
        (b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "stream line is nested too deeply"),
        (b'{"data": {"id": NaN}}', "not JSON: NaN is not a JSON value"),
        (b'{"data": {"id": 1' + b"0" * 5000 + b"}}", "stream line is not JSON"),
        (b'{"errors": 5}', "errors is a JSON int, not a list"),
    ],
    ids=[
        "superscript",
        "arabic-indic",
        "author",
        "long",
        "reply",
        "year-0",
        "year-10000",
        "deep",
        "nan",
        "huge",
        "errors",
    ],
)
def test_every_way_a_line_can_be_wrong_is_malformed(raw: bytes, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        parse_stream_line(raw, BRANDS, max_bytes=1 << 20)


def test_a_cursor_that_is_no_tweet_id_backfills_as_a_first_start() -> None:
    assert since_id(SUPERSCRIPT, 1.0) is None
    assert since_id("1790000000000000002", 0.0) == "1790000000000000002"


def test_an_id_that_only_looks_numeric_is_put_aside_and_the_stream_goes_on(
    sandbox_factory, run_collector, store_sink
):
    """ "¹²³" passed str.isdigit(): the tweet was handed over, and the store failed on int() of its cursor,
    so the stream reconnected, and every later tweet took the same path."""
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    running = run_collector(server.base_url, [DESK])
    wait_for(lambda: "streaming" in running.states(), what="the stream")
    first = sandbox.push("@Delta first", author="jane")
    wait_for(lambda: first.id in store_sink.native_ids(), what="a first tweet")

    rule_id = sandbox.rules[0]["id"]
    sandbox.send_raw(line(rule_id=rule_id, id=SUPERSCRIPT, conversation_id=SUPERSCRIPT))
    sandbox.send_raw(
        line(rule_id=rule_id, id="1790000000000000009", created_at="0001-01-01T00:00:00.000+05:00")
    )
    later = [sandbox.push(f"@Delta still waiting ({n})", author="jane") for n in range(3)]
    wait_for(lambda: {t.id for t in later} <= set(store_sink.native_ids()), what="the tweets after them")

    assert set(store_sink.native_ids()) == {first.id} | {t.id for t in later}
    reasons = [item.reason for item in store_sink.quarantined()]
    assert len(reasons) == 2 and "is not an X id" in reasons[0] and "outside the years" in reasons[1], reasons
    assert running.collector.stats.connects == 1, "no line broke the connection"


def test_a_stored_cursor_that_is_no_tweet_id_does_not_stop_the_backfill(
    sandbox_factory, run_collector, store_sink
):
    """since_id() read "¹²³" as digits and int() failed: the backfill retried for ever and never went live."""
    with store_sink.store.write() as session:
        session.add(SourceCursor(source=cursor_key("desk"), value=SUPERSCRIPT))
    server = sandbox_factory(replay=False)
    sandbox = server.sandbox
    earlier = sandbox.push("@Delta posted while we were away", author="jane")
    running = run_collector(server.base_url, [DESK])
    wait_for(lambda: "streaming" in running.states(), what="the backfill to finish")
    wait_for(lambda: earlier.id in store_sink.native_ids(), what="the backfilled tweet")
    later = sandbox.push("@Delta and now", author="jane")
    wait_for(lambda: later.id in store_sink.native_ids(), what="a streamed tweet")
    assert "retrying" not in running.states()
