"""One hostile X line must not stop X: ids that only look like numbers, dates no date can hold, nesting as deep as
the stack, are put aside with their reason; the stream and the backfill go on (real tweepy against the sandbox,
a real SQLite store)."""

from __future__ import annotations

import json
import threading
from datetime import timezone
from typing import Any

import pytest
from hostile_testkit import (
    ASIDE,
    IGNORED,
    PROPERTY,
    STORED,
    Case,
    check,
    huge_text,
    marker,
    moment,
    odd_numbers,
    odd_text,
    offsets,
    unique,
)
from hypothesis import given
from hypothesis import strategies as st
from x_testkit import FAST, RunningCollector, StoreSink, wait_for, x_settings

from listener.config import BrandSettings
from listener.health import HealthEvent
from listener.sandbox import wire
from listener.x import XCollector, cursor_key
from listener.x_backfill import since_id
from listener.x_normalise import Brands, Malformed, parse_stream_line
from store.models import SourceCursor

pytestmark = pytest.mark.timeout(60)
DESK = BrandSettings(name="desk", accounts={"x": ["Delta"]})
BRANDS = Brands.of([DESK])
SUPERSCRIPT = "\u00b9\u00b2\u00b3"  # passes str.isdigit(), fails int()
ARABIC_INDIC = "\u0661\u0662\u0663"  # int() reads it, as 123: no X id is written so
MAX_LINE = 200_000
X_BAD_DATES = [
    "0001-01-01T00:00:00.000+05:00",
    "9999-12-31T23:59:59.999-05:00",
    "1969-12-31T23:59:59.999Z",
    "2024-05-13T09:15:02Z",
    "2024-05-13T09:15:02.000",
    1715590502,
    None,
]


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


# -- the property: whatever X sends, every good tweet is stored once, every bad line is put aside -------------


def _tweet(n: int, draw: Any) -> dict[str, Any]:
    when = draw(moment()).astimezone(timezone(draw(offsets())))
    return {
        "id": str(10**17 + n),  # below the sandbox's snowflakes: the stream's cursor stays theirs
        "text": draw(st.one_of(odd_text(), huge_text)),
        "author_id": str(4 * 10**9 + n),
        "conversation_id": str(10**17 + n),
        "created_at": f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}{when:%z}".replace(
            "+0000", "Z"
        ),
        "lang": draw(st.one_of(st.none(), st.sampled_from(["en", "und", "pt-BR", "x" * 300]), odd_text())),
        "referenced_tweets": [{"type": "replied_to", "id": str(10**17 + n - 1)}],
    }


def _user(n: int, draw: Any) -> dict[str, Any]:
    return {
        "id": str(4 * 10**9 + n),
        "username": "u" + draw(odd_text()),
        "name": draw(st.one_of(odd_text(), huge_text)),
        "public_metrics": {"followers_count": draw(odd_numbers)},
    }


BAD_TWEETS: list[tuple[str, dict[str, Any]]] = [
    *[(f"created_at {v!r}", {"created_at": v}) for v in X_BAD_DATES],
    *[(f"id {v!r}", {"id": v}) for v in [SUPERSCRIPT, ARABIC_INDIC, "12a", "", "1" * 41, -1, 12345]],
    ("author_id '¹²³'", {"author_id": SUPERSCRIPT}),
    ("conversation_id 'x'", {"conversation_id": "x"}),
    ("text None", {"text": None}),
    ("text a list", {"text": ["a"]}),
    ("reply to '¹²³'", {"referenced_tweets": [{"type": "replied_to", "id": SUPERSCRIPT}]}),
]


@st.composite
def x_cases(draw: Any) -> Case:
    n, probe = unique(), marker()
    tweet, user = _tweet(n, draw), _user(n, draw)
    kinds = ["good", "good", "good", "bad", "bad", "garbage", "ignored", "no-user", "surrogate-bytes"]
    kind = draw(st.sampled_from(kinds))
    expect, why, tag = STORED, "an odd but valid tweet", "brand:desk"
    if kind == "bad":
        why, change = draw(st.sampled_from(BAD_TWEETS))
        tweet.update(change)
        expect = ASIDE
    elif kind == "no-user":
        why, expect, user = "a tweet whose author is not in includes", ASIDE, {**user, "id": "1"}
    elif kind == "ignored":
        why, expect, tag = "a tweet for another app's rule", IGNORED, "another-app"
    body = {
        "probe": probe,
        "data": tweet,
        "includes": {"users": [user]},
        "matching_rules": [{"id": "1", "tag": tag}],
    }
    line = wire.dumps_bytes(body)
    if kind == "garbage":
        expect = ASIDE
        why, line = draw(
            st.sampled_from(
                [
                    ("a line cut short", line[: len(line) // 2]),
                    ("a line with bytes that are no UTF-8", line[:-1] + b', "odd": "\xff\xfe"}'),
                    ("a line with NaN", line[:-1] + b', "nan": NaN}'),
                    (
                        "a line nested too deep",
                        line[:-1] + b', "deep": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
                    ),
                    ("a line longer than allowed", line[:-1] + b', "pad": "' + b"p" * MAX_LINE + b'"}'),
                    ("a JSON array", b'["' + probe.encode() + b'"]'),
                ]
            )
        )
    if kind == "surrogate-bytes":
        # The UTF-8 form of a lone surrogate: Python's JSON reader takes it (surrogatepass), the store drops it.
        why, line = "a line carrying a surrogate's bytes", line[:-1] + b', "odd": "\xed\xa0\x80"}'
    return Case(why, expect, probe, tweet["id"] if isinstance(tweet["id"], str) else None, payload=line)


@pytest.fixture
def x_desk(any_store, sandbox_factory):
    sink = StoreSink(any_store)
    server = sandbox_factory(replay=False)
    health: list[HealthEvent] = []
    collector = XCollector(
        x_settings(server.base_url, max_line_bytes=MAX_LINE),
        [DESK],
        sink=sink.sink,
        put_aside=sink.put_aside,
        get_cursor=sink.get_cursor,
        on_health=health.append,
        backoff=FAST,
    )
    thread = threading.Thread(target=collector.run, name="test-x-hostile", daemon=True)
    thread.start()
    running = RunningCollector(collector, thread, health)
    wait_for(lambda: "streaming" in running.states(), what="the stream")
    yield server.sandbox, sink, running
    collector.stop()
    thread.join(timeout=10)


@PROPERTY
@given(batch=st.lists(x_cases(), min_size=1, max_size=8))
def test_whatever_x_sends_good_tweets_are_stored_once_and_bad_lines_put_aside(x_desk, batch):
    sandbox, sink, running = x_desk
    before = sandbox.push("@Delta before the batch", author="jane")
    for case in batch:
        sandbox.send_raw(case.payload)
    after = sandbox.push("@Delta after the batch", author="jane")
    check(sink, batch, [before.id, after.id])
    assert running.collector.stats.connects == 1, "no line broke the connection"
    assert not {"retrying", "error"} & set(running.states()), running.health[-3:]
