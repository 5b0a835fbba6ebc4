"""One hostile Bluesky post must not stop Bluesky: any account can write any JSON into its repo, and Jetstream and
search pass it on. Each post here is put aside with its reason and the stream goes on (the real supervisor, real
websockets and atproto clients against the sandbox, a real SQLite store)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timezone
from typing import Any

import pytest
from bluesky_testkit import DESK, FAST, Running
from hostile_testkit import (
    ASIDE,
    BAD_ISO_DATES,
    IGNORED,
    PROPERTY,
    STORED,
    Case,
    check,
    huge_text,
    marker,
    moment,
    odd_text,
    offsets,
    unique,
)
from hypothesis import given
from hypothesis import strategies as st
from x_testkit import StoreSink, wait_for

from listener.bluesky import JETSTREAM_SOURCE, build_sources, cursor_key
from listener.bluesky_normalise import Malformed, parse_frame, parse_post_view
from listener.health import HealthEvent
from listener.sandbox import wire
from listener.sandbox.bluesky import sandbox_settings
from listener.sandbox.bluesky_wire import POST
from listener.supervisor import Supervisor

pytestmark = pytest.mark.timeout(60)
SEARCH = cursor_key("desk")
YEAR_ZERO = "0001-01-01T00:00:00+05:00"  # a year before year 1, once in UTC
MAX_FRAME = 200_000


def commit(record: object, *, did: str = "did:plc:eve", rkey: str = "3l3qo2vuowo2b", time_us: int = 1) -> str:
    body = {
        "did": did,
        "time_us": time_us,
        "kind": "commit",
        "commit": {
            "operation": "create",
            "collection": POST,
            "rkey": rkey,
            "cid": "bafyrei",
            "record": record,
        },
    }
    return json.dumps(body)


def record(**fields: object) -> dict[str, object]:
    return {"$type": POST, "text": "hello", "createdAt": "2024-05-13T09:15:02.000Z", **fields}


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (commit(record(createdAt=YEAR_ZERO)), "outside the years a date can have"),
        (commit(record(createdAt="9999-12-31T23:59:59-05:00")), "outside the years a date can have"),
        (commit(record(createdAt="2024-05-13T09:15:02")), "has no timezone"),
        (commit(record(createdAt=1715591702)), "is int, not a string"),
        ('{"kind": "commit", "commit": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"time_us": NaN}', "not JSON: NaN is not a JSON value"),
        (commit(record(), did="did:plc:\u202eevil"), "is not a did"),
        (commit(record(), rkey="../../app.bsky.actor.profile/self"), "is not a record key"),
        (commit(record(reply={"root": {"uri": 5}, "parent": {"uri": "at://x"}})), "not an at:// URI"),
        (commit(record(), time_us=10**30), "is not a time in microseconds"),
    ],
    ids=[
        "before-year-1",
        "after-year-9999",
        "naive",
        "number",
        "nested",
        "nan",
        "rtl-did",
        "path-rkey",
        "reply-uri",
        "time-us",
    ],
)
def test_every_way_a_frame_can_be_wrong_is_malformed(frame: str, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        parse_frame(frame, max_bytes=1 << 20)


def test_a_created_at_in_the_future_is_when_the_network_saw_the_post() -> None:
    frame = parse_frame(
        commit(record(createdAt="9999-12-30T00:00:00Z"), time_us=1_715_591_702_000_000), max_bytes=1 << 20
    )
    assert frame.post is not None and frame.post.created_at.isoformat() == "2024-05-13T09:15:02+00:00"
    view = {
        "uri": "at://did:plc:eve/app.bsky.feed.post/3l3q",
        "cid": "bafyrei",
        "author": {"did": "did:plc:eve", "handle": "eve.bsky.social"},
        "record": record(createdAt=YEAR_ZERO),
        "indexedAt": "2024-05-13T09:15:02.000Z",
    }
    with pytest.raises(Malformed, match="outside the years"):
        parse_post_view(view, "q")


def test_hostile_posts_are_put_aside_and_jetstream_streams_on(bluesky_server, run_bluesky, store_sink):
    """A createdAt before year 1 in UTC ended the Jetstream session with OverflowError; the reconnect replayed
    the same post from the cursor, and so on for ever. Deeply nested JSON did the same with RecursionError.
    Neither post needs to mention a brand: every frame is parsed before brands are matched."""
    server = bluesky_server(replay=False)
    sandbox = server.sandbox
    running = run_bluesky(server, [DESK], poll_seconds=3600)
    wait_for(lambda: "streaming" in running.states(JETSTREAM_SOURCE), what="Jetstream live")
    first = sandbox.push("@delta.bsky.social where is my bag", author="jane")
    wait_for(lambda: first.uri in store_sink.native_ids(), what="a first post")

    sandbox.push_record(record(createdAt=YEAR_ZERO, text="not about any brand"), author="eve")
    sandbox.push_frame('{"kind": "commit", "commit": ' + "[" * 50_000 + "]" * 50_000 + "}")
    sandbox.push_frame(commit(record(createdAt="yesterday"), time_us=10**30))
    later = [sandbox.push(f"@delta.bsky.social still waiting ({n})", author="jane") for n in range(3)]

    wait_for(
        lambda: set(store_sink.native_ids()) >= {p.uri for p in later},
        what="the posts after the hostile ones",
    )
    reasons = [item.reason for item in store_sink.quarantined() if item.source == JETSTREAM_SOURCE]
    assert any("outside the years a date can have" in r for r in reasons), reasons
    assert any("nested too deeply" in r for r in reasons), reasons
    assert any("not a time in microseconds" in r for r in reasons), reasons
    jetstream = running.runner(JETSTREAM_SOURCE)
    assert jetstream.reconnects == 0, running.details(JETSTREAM_SOURCE)
    assert jetstream.health().state == "streaming"
    assert "retrying" not in running.states(JETSTREAM_SOURCE)


def test_a_hostile_post_in_search_is_put_aside_and_search_goes_on(bluesky_server, run_bluesky, store_sink):
    """The search path read createdAt with the same parser: the OverflowError ended every search pass."""
    server = bluesky_server(replay=False)
    sandbox = server.sandbox
    sandbox.fail_next_connect(503, count=10_000)  # search alone
    before = sandbox.push("@delta.bsky.social my flight was cancelled", author="jane")
    hostile = sandbox.push_record(
        record(createdAt=YEAR_ZERO, text="@delta.bsky.social look at my date"), author="eve"
    )
    after = sandbox.push("@delta.bsky.social and my bag", author="jane")
    running = run_bluesky(server, [DESK])
    wait_for(lambda: "polling" in running.states(SEARCH), what="a search pass")
    wait_for(lambda: {before.uri, after.uri} <= set(store_sink.native_ids()), what="the good posts")
    assert hostile.uri not in store_sink.native_ids()
    reasons = [item.reason for item in store_sink.quarantined() if item.source == SEARCH]
    assert reasons and all("search hit" in r and "outside the years" in r for r in reasons), reasons
    assert running.runner(SEARCH).reconnects == 0
    assert "retrying" not in running.states(SEARCH)


# -- the property: whatever Jetstream sends, every good post is stored once, every bad frame is put aside -----

AUTHORS = [f"author{n}.bsky.social" for n in range(4)]
_B32 = "234567abcdefghijklmnopqrstuvwxyz"


def _rkey(n: int) -> str:
    return "3l" + "".join(_B32[(n >> (5 * i)) & 31] for i in range(11))


def _iso(draw: Any) -> str:
    when = draw(moment()).astimezone(timezone(draw(offsets())))
    return when.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "microseconds"])))


BAD_RECORDS: list[tuple[str, dict[str, Any]]] = [
    *[
        (f"createdAt {v!r}", {"createdAt": v})
        for v in [*BAD_ISO_DATES, "2024-05-13T09:15:02", 1715591702, None]
    ],
    ("text None", {"text": None}),
    ("text a number", {"text": 5}),
    ("reply without parent", {"reply": {"root": {"uri": "at://did:plc:x/app.bsky.feed.post/3l"}}}),
    ("reply to a web page", {"reply": {"root": {"uri": "https://x"}, "parent": {"uri": "https://x"}}}),
]
BAD_FRAMES: list[tuple[str, dict[str, Any]]] = [
    *[(f"did {v!r}", {"did": v}) for v in ["did:plc:\u202eevil", "notadid", "", 5]],
    *[(f"time_us {v!r}", {"time_us": v}) for v in ["1725911162329308", -5, 10**30, True, 1.5]],
    ("kind 'label'", {"kind": "label"}),
    ("record a string", {"commit": "x"}),
]


@st.composite
def bluesky_cases(draw: Any, dids: list[str]) -> Case:
    n, probe = unique(), marker()
    did = draw(st.sampled_from(dids))
    rkey = _rkey(n)
    uri = f"at://{did}/{POST}/{rkey}"
    record: dict[str, Any] = {
        "$type": POST,
        "text": f"{draw(st.one_of(odd_text(), huge_text))} @delta.bsky.social {draw(odd_text())}",
        "createdAt": _iso(draw),
        "langs": draw(
            st.lists(st.one_of(st.sampled_from(["en", "pt-BR", "x" * 300]), odd_text()), max_size=3)
        ),
    }
    if draw(st.booleans()):
        parent = f"at://{draw(st.sampled_from(dids))}/{POST}/{_rkey(n + 10**6)}"
        record["reply"] = {
            "root": {"uri": parent, "cid": "bafyrei"},
            "parent": {"uri": parent, "cid": "bafyrei"},
        }
    commit: dict[str, Any] = {
        "rev": rkey,
        "operation": "create",
        "collection": POST,
        "rkey": rkey,
        "cid": "bafyrei",
    }
    frame: dict[str, Any] = {
        "probe": probe,
        "did": did,
        "time_us": int(time.time() * 1_000_000),
        "kind": "commit",
    }
    kinds = ["good", "good", "good", "bad-record", "bad-frame", "garbage", "ignored"]
    kind = draw(st.sampled_from(kinds))
    expect, why = STORED, "an odd but valid post"
    if kind == "bad-record":
        why, change = draw(st.sampled_from(BAD_RECORDS))
        record.update(change)
        expect = ASIDE
    frame["commit"] = {**commit, "record": record}
    if kind == "bad-frame":
        why, change = draw(st.sampled_from(BAD_FRAMES))
        frame.update(change)
        expect = ASIDE
    if kind == "ignored":
        why, change = draw(
            st.sampled_from(
                [
                    ("a post about no brand", {"commit": {**commit, "record": {**record, "text": "hello"}}}),
                    ("a like", {"commit": {**commit, "collection": "app.bsky.feed.like", "record": record}}),
                    ("a delete", {"commit": {**commit, "operation": "delete"}}),
                    ("an identity event", {"kind": "identity", "identity": {"did": did, "handle": "x"}}),
                    ("an account event", {"kind": "account", "account": {"active": False}}),
                ]
            )
        )
        frame.update(change)
        expect = IGNORED
    text = wire.dumps(frame)
    if kind == "garbage":
        expect = ASIDE
        why, text = draw(
            st.sampled_from(
                [
                    ("a frame cut short", text[: len(text) // 2]),
                    ("a frame with NaN", text[:-1] + ', "nan": NaN}'),
                    ("a frame nested too deep", text[:-1] + ', "deep": ' + "[" * 50_000 + "]" * 50_000 + "}"),
                    ("a frame longer than allowed", text[:-1] + ', "pad": "' + "p" * MAX_FRAME + '"}'),
                    ("a JSON array", f'["{probe}"]'),
                ]
            )
        )
    return Case(why, expect, probe, uri, payload=text)


@pytest.fixture
def jetstream_desk(any_store, bluesky_server):
    sink = StoreSink(any_store)
    server = bluesky_server(replay=False)
    dids = [server.sandbox.account(handle).did for handle in AUTHORS]
    config = sandbox_settings(
        server.base_url,
        server.jetstream_url,
        read_timeout=1.0,
        rewind_seconds=1.0,
        poll_seconds=3600.0,
        standby_seconds=3600.0,
        max_frame_bytes=MAX_FRAME,
    )
    health: list[HealthEvent] = []
    supervisor = Supervisor(
        build_sources(config, [DESK], policy=FAST),
        sink=sink.sink,
        put_aside=sink.put_aside,
        get_cursor=sink.get_cursor,
        on_health=health.append,
        watchdog_every=0.05,
    )
    thread = threading.Thread(target=supervisor.run, name="test-bluesky-hostile", daemon=True)
    thread.start()
    running = Running(supervisor, thread, health)
    wait_for(lambda: "streaming" in running.states(JETSTREAM_SOURCE), what="Jetstream live")
    yield server.sandbox, sink, running, dids
    running.stop()


@PROPERTY
@given(data=st.data())
def test_whatever_jetstream_sends_good_posts_are_stored_once_and_bad_frames_put_aside(jetstream_desk, data):
    sandbox, sink, running, dids = jetstream_desk
    batch = data.draw(st.lists(bluesky_cases(dids), min_size=1, max_size=8), label="batch")
    before = sandbox.push("@delta.bsky.social before the batch", author="jane")
    for case in batch:
        sandbox.push_frame(case.payload)
    after = sandbox.push("@delta.bsky.social after the batch", author="jane")
    check(sink, batch, [before.uri, after.uri])
    jetstream = running.runner(JETSTREAM_SOURCE)
    assert jetstream.reconnects == 0, running.details(JETSTREAM_SOURCE)
    assert jetstream.health().state == "streaming", jetstream.health()
