"""One bad Reddit item must not block its subreddit: it stays in the listing for many polls, so a source that fails
on it fails on every poll after. Each is put aside once and the source goes on (real praw against the sandbox,
a real SQLite store)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hostile_testkit import ASIDE, IGNORED, PROPERTY, STORED, Case, check, huge_text, marker, odd_text
from hypothesis import given
from hypothesis import strategies as st
from reddit_testkit import DESK, Desk, fast_settings, start_sandbox
from x_testkit import StoreSink, wait_for

from listener.reddit import cursor_key
from listener.reddit_normalise import Malformed, RedditBrands, identify, position_of, to_mention

pytestmark = pytest.mark.timeout(60)
COMMENTS = cursor_key("comments", "support")
SUPERSCRIPT = "\u00b9\u00b2\u00b3"


def comment(**fields: Any) -> dict[str, Any]:
    data = {
        "id": "kx1abc2",
        "name": "t1_kx1abc2",
        "author": "jane",
        "body": "u/Delta my bag",
        "link_id": "t3_1cq2xyz",
        "parent_id": "t3_1cq2xyz",
        "created_utc": 1715590502.0,
        **fields,
    }
    return {"kind": "t1", "data": data}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"created_utc": math.nan}, "data.created_utc nan is not a time"),
        ({"created_utc": math.inf}, "data.created_utc inf is not a time"),
        ({"created_utc": -math.inf}, "is not a time"),
        ({"created_utc": 1e300}, "outside the years a date can have"),
        ({"created_utc": -1e18}, "outside the years a date can have"),
        ({"created_utc": 10**400}, "outside the years a date can have"),
        ({"created_utc": "1715590502"}, "is not a number"),
        ({"parent_id": "t1_" + SUPERSCRIPT}, "data.parent_id"),
    ],
    ids=["nan", "inf", "-inf", "1e300", "-1e18", "huge-int", "string", "superscript-parent"],
)
def test_every_way_a_time_can_be_wrong_is_malformed(fields: dict[str, Any], reason: str) -> None:
    item = identify(comment(**fields), "t1")
    with pytest.raises(Malformed, match=reason):
        to_mention(item, RedditBrands([DESK]))


@pytest.mark.parametrize("native", [SUPERSCRIPT, "KX1", "1" * 13, "", "x y"])
def test_ids_are_base36_as_reddit_writes_them(native: str) -> None:
    with pytest.raises(Malformed, match="is not a base36 id"):
        identify(comment(id=native, name=None), "t1")
    assert position_of(SUPERSCRIPT) is None


def test_an_item_no_date_can_hold_is_put_aside_once_and_the_subreddit_goes_on(store_sink):
    """created_utc NaN, inf or 1e300 raised from datetime.fromtimestamp in the middle of a catch-up: the source
    reconnected, read the same listing, and failed on the same item, for as long as it stayed listed."""
    server = start_sandbox(subreddits=["support"])
    sandbox = server.sandbox
    desk = Desk.start(fast_settings(server.base_url), [DESK], store_sink)
    try:
        wait_for(desk.polling, what="both sources caught up")
        post = sandbox.push("my flight", author="jane")
        first = sandbox.push("u/Delta where is my bag", author="jane", reply_to=post.fullname)
        wait_for(lambda: first.fullname in store_sink.native_ids(), what="a first comment")
        for when in (math.nan, math.inf, 1e300):
            sandbox.push(
                "u/Delta look at my date", author="eve", reply_to=post.fullname, fields={"created_utc": when}
            )
        later = [
            sandbox.push(f"u/Delta still waiting ({n})", author="jane", reply_to=post.fullname)
            for n in range(3)
        ]
        wait_for(
            lambda: {t.fullname for t in later} <= set(store_sink.native_ids()),
            what="the comments after them",
        )
        for _ in range(5):  # more polls over the same listing
            sandbox.push("nothing to see", author="sam", reply_to=post.fullname)
        wait_for(
            lambda: len([r for r in sandbox.requests if "comments" in r["path"]]) > 12, what="more polls"
        )

        assert set(store_sink.native_ids()) == {first.fullname} | {t.fullname for t in later}
        reasons = [item.reason for item in store_sink.quarantined()]
        assert len(reasons) == 3, reasons
        assert all("created_utc" in r for r in reasons), reasons
        runner = next(r for r in desk.supervisor.runners if r.source == COMMENTS)
        assert runner.reconnects == 0 and runner.health().state == "polling"
    finally:
        desk.stop()
        server.stop()


# -- the property: whatever a listing holds, every good comment is stored once, every bad item put aside ------

BAD_DATA: list[tuple[str, dict[str, Any]]] = [
    *[
        (f"created_utc {v!r}", {"created_utc": v})
        for v in [math.nan, math.inf, -math.inf, 1e300, -1e18, 10**400, "1715590502", None, -1.0]
    ],
    ("body None", {"body": None}),
    ("author a number", {"author": 5}),
    ("author_fullname with an RLO", {"author_fullname": "t2_\u202eabc"}),
    ("parent_id '¹²³'", {"parent_id": "t1_" + SUPERSCRIPT}),
    ("link_id a comment's", {"link_id": "t1_abc"}),
]
BAD_CHILDREN: list[tuple[str, Any]] = [
    ("a child that is a string", "t1_abc"),
    ("a child of kind t3 in comments", {"kind": "t3", "data": {"id": "abc"}}),
    ("a child without data", {"kind": "t1"}),
    ("an id in capitals", {"kind": "t1", "data": {"id": "ABC"}}),
    ("an id of superscripts", {"kind": "t1", "data": {"id": SUPERSCRIPT}}),
    ("an id of 13 characters", {"kind": "t1", "data": {"id": "a" * 13}}),
    ("a name that is another's", {"kind": "t1", "data": {"id": "abc", "name": "t1_abd"}}),
]


@st.composite
def reddit_cases(draw: Any) -> Case:
    probe = marker()
    text = f"{draw(st.one_of(odd_text(), huge_text))} u/Delta {draw(odd_text())}"
    fields: dict[str, Any] = {"probe": probe}
    if draw(st.booleans()):
        fields["created_utc"] = draw(
            st.one_of(st.floats(86_400, 253_402_214_400), st.integers(86_400, 2**34))
        )
    if draw(st.booleans()):
        fields["author"] = draw(odd_text())
    kind = draw(st.sampled_from(["good", "good", "good", "bad", "bad", "child", "ignored"]))
    case = Case("an odd but valid comment", STORED, probe, payload=(text, fields))
    if kind == "bad":
        case.why, change = draw(st.sampled_from(BAD_DATA))
        fields.update(change)
        case.expect = ASIDE
    elif kind == "ignored":
        case.why, case.expect, case.payload = "a comment about no brand", IGNORED, ("hello", fields)
    elif kind == "child":
        case.why, child = draw(st.sampled_from(BAD_CHILDREN))
        if isinstance(child, dict):
            child = (
                {**child, "data": {"probe": probe, **child.get("data", {})}}
                if "data" in child
                else {
                    **child,
                    "probe": probe,
                }
            )
        else:
            child = f"{child} {probe}"
        case.expect, case.payload = ASIDE, child
    return case


@pytest.fixture
def reddit_desk(any_store):
    sink = StoreSink(any_store)
    server = start_sandbox(subreddits=["support"])
    desk = Desk.start(fast_settings(server.base_url), [DESK], sink)
    wait_for(desk.polling, what="both sources caught up")
    post = server.sandbox.push("my flight", author="jane")
    yield server.sandbox, sink, desk, post
    desk.stop()
    server.stop()


@PROPERTY
@given(batch=st.lists(reddit_cases(), min_size=1, max_size=8))
def test_whatever_a_listing_holds_good_comments_are_stored_once_and_bad_items_put_aside(reddit_desk, batch):
    sandbox, sink, desk, post = reddit_desk
    before = sandbox.push("u/Delta before the batch", author="jane", reply_to=post.fullname)
    for case in batch:
        if not isinstance(case.payload, tuple):
            sandbox.push_raw(case.payload)
            continue
        text, fields = case.payload
        case.native_id = sandbox.push(text, author="eve", reply_to=post.fullname, fields=fields).fullname
    after = sandbox.push("u/Delta after the batch", author="jane", reply_to=post.fullname)
    check(sink, batch, [before.fullname, after.fullname])
    for runner in desk.supervisor.runners:
        assert runner.reconnects == 0, runner.health()
        assert runner.health().state == "polling", runner.health()
