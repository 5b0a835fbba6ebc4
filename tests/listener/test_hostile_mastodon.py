"""One hostile Mastodon status must not stop Mastodon: a remote server federates whatever it likes. Each status
here is put aside with its reason and the stream goes on (real Mastodon.py against the sandbox, real SQLite)."""

from __future__ import annotations

import json
from datetime import timezone
from typing import Any

import mastodon_testkit
import pytest
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
    odd_numbers,
    odd_text,
    offsets,
    unique,
)
from hypothesis import given
from hypothesis import strategies as st
from mastodon_testkit import StoreSink, start_supervisor, wait_for

from listener.mastodon_normalise import Malformed, id_order, parse_status

pytestmark = pytest.mark.timeout(60)
mastodon_server = mastodon_testkit.mastodon_server
supervise = mastodon_testkit.supervise
TAG = "mastodon:tag:delta"
YEAR_ZERO = "0001-01-01T00:00:00+05:00"  # a year before year 1, once in UTC
SUPERSCRIPT = "\u00b9\u00b2\u00b3"  # passes str.isdigit(), fails int()


def status(**fields: Any) -> dict[str, Any]:
    return {
        "id": "112345678901234567",
        "created_at": "2024-05-13T09:15:02.000Z",
        "content": "<p>my bag #delta</p>",
        "account": {"id": "109876", "acct": "jane@example.social"},
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"created_at": YEAR_ZERO}, "outside the years a date can have"),
        ({"created_at": "9999-12-31T23:59:59-05:00"}, "outside the years a date can have"),
        ({"created_at": None}, "not an ISO 8601 timestamp"),
        ({"id": SUPERSCRIPT}, "id is '¹²³', not an id"),
        ({"id": "../../accounts/verify_credentials"}, "not an id"),
        ({"id": True}, "not an id"),
        ({"in_reply_to_id": "1\u200b2"}, "in_reply_to_id"),
        ({"account": {"id": "-5", "acct": "jane"}}, "account.id"),
    ],
    ids=["year-0", "year-10000", "none", "superscript", "path", "bool", "zero-width", "account"],
)
def test_every_way_a_status_can_be_wrong_is_malformed(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        parse_status(status(**fields))


def test_odd_but_harmless_fields_are_read() -> None:
    parsed = parse_status(status(mentions=5, created_at="2024-05-13T09:15:02", id=112345678901234567))
    assert parsed is not None and parsed.native_id == "112345678901234567"
    assert parsed.created_at.isoformat() == "2024-05-13T09:15:02+00:00", "a naive time is Mastodon's UTC"
    ordered = sorted([SUPERSCRIPT, "10", "9", "AbC"], key=id_order)
    assert ordered == ["9", "10", "AbC", SUPERSCRIPT]


def test_hostile_statuses_are_put_aside_and_the_stream_goes_on(mastodon_server, supervise, store_sink):
    """created_at before year 1 in UTC raised OverflowError on the stream's thread: the stream ended, the
    reconnect's backfill read the same status from the timeline and the session died there, for ever. An id of
    "¹²³" was handed over, then sorting a timeline page by it (int()) ended every session the same way."""
    server = mastodon_server(replay=False, only=("Delta",))
    sandbox = server.sandbox
    running = supervise(server.base_url, notifications=False)
    wait_for(running.live, what="the tag stream live")
    first = sandbox.push("my bag is lost #delta", author="jane")
    wait_for(lambda: first.id in store_sink.native_ids(), what="a first status")

    sandbox.push("look at my date #delta", author="eve", fields={"created_at": YEAR_ZERO})
    sandbox.push("look at my id #delta", author="eve", fields={"id": SUPERSCRIPT})
    sandbox.push("look at my account #delta", author="eve", fields={"account": "eve"})
    later = [sandbox.push(f"still waiting ({n}) #delta", author="jane") for n in range(3)]
    wait_for(lambda: {s.id for s in later} <= set(store_sink.native_ids()), what="the statuses after them")

    assert set(store_sink.native_ids()) == {first.id} | {s.id for s in later}
    reasons = [item.reason for item in store_sink.quarantined()]
    assert len(reasons) == 3, reasons
    assert (
        "outside the years" in reasons[0] and "not an id" in reasons[1] and "account is missing" in reasons[2]
    )
    assert running.reconnects(TAG) == 0
    assert running.states(TAG)[-1] == "streaming"

    # A reconnect backfills the timeline from the cursor, over the hostile statuses again.
    sandbox.drop()
    again = sandbox.push("after the reconnect #delta", author="jane")
    wait_for(lambda: again.id in store_sink.native_ids(), what="a status after the reconnect")
    wait_for(lambda: running.states(TAG)[-1] == "streaming", what="caught up again")
    assert running.reconnects(TAG) == 1, "the backfill over the hostile statuses did not end a session"
    assert len(store_sink.native_ids()) == len(later) + 2


# -- the property: whatever a server federates, every good status is stored once, every bad one put aside ----


def _account(draw: Any, n: int) -> dict[str, Any]:
    return {
        "id": str(7 * 10**9 + n),
        "acct": "a" + draw(odd_text()),
        "display_name": draw(st.one_of(odd_text(), huge_text, odd_numbers)),
        "followers_count": draw(odd_numbers),
    }


BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    *[(f"created_at {v!r}", {"created_at": v}) for v in [*BAD_ISO_DATES, 1715591702, None]],
    *[(f"id {v!r}", {"id": v}) for v in [SUPERSCRIPT, "../x", "", True, -1, "1" * 41]],
    ("account a string", {"account": "eve"}),
    ("account without acct", {"account": {"id": "5"}}),
    ("account id '¹²³'", {"account": {"id": SUPERSCRIPT, "acct": "eve"}}),
    ("content None", {"content": None}),
    ("in_reply_to_id '1 2'", {"in_reply_to_id": "1 2"}),
]


@st.composite
def mastodon_cases(draw: Any) -> Case:
    n, probe = unique(), marker()
    text = f"{draw(st.one_of(odd_text(), huge_text))} #delta {draw(odd_text())} {probe}"
    fields: dict[str, Any] = {"probe": probe}
    when = draw(moment()).astimezone(timezone(draw(offsets())))
    fields["created_at"] = draw(st.sampled_from([when.isoformat(), when.replace(tzinfo=None).isoformat()]))
    if draw(st.booleans()):
        fields["account"] = _account(draw, n)
    if draw(st.booleans()):
        fields["language"] = draw(st.one_of(st.none(), st.sampled_from(["en", "x" * 300]), odd_text()))
        fields["spoiler_text"] = draw(odd_text())
        fields["mentions"] = draw(st.sampled_from([5, "x", [{"id": None}], None]))
    if draw(st.booleans()):
        fields["id"] = f"AbC{n}xyz"  # a Pleroma flake id
    kind = draw(st.sampled_from(["good", "good", "good", "bad", "bad", "garbage", "ignored"]))
    case = Case("an odd but valid status", STORED, probe, fields.get("id"), payload=(text, fields))
    if kind == "bad":
        case.why, change = draw(st.sampled_from(BAD_FIELDS))
        fields.update(change)
        case.expect, case.native_id = ASIDE, None
    elif kind == "ignored":
        case.why, case.expect = "a boost", IGNORED
        fields["reblog"] = {"id": "1", "content": "boosted"}
    elif kind == "garbage":
        status = json.dumps({"probe": probe, "id": str(n), "content": text})
        case.expect, case.native_id = ASIDE, None
        case.why, raw = draw(
            st.sampled_from(
                [
                    ("an event cut short", f"event: update\ndata: {status[: len(status) // 2]}"),
                    ("an event with NaN", f'event: update\ndata: {status[:-1]}, "nan": NaN}}'),
                    (
                        "an event nested deep",
                        f'event: update\ndata: {status[:-1]}, "d": {"[" * 9999}{"]" * 9999}}}',
                    ),
                    ("an event that is a list", f'event: update\ndata: ["{probe}"]'),
                    ("an event of no known kind", f"event: status.quoted\ndata: {status}"),
                    ("a line without a colon", f"event: update\ndata: {status}\n{probe}"),
                ]
            )
        )
        case.payload = raw.encode("utf-8", "surrogatepass")
    return case


@pytest.fixture
def tag_desk(any_store, mastodon_server):
    sink = StoreSink(any_store)
    server = mastodon_server(replay=False, only=("Delta",))
    running = start_supervisor(server.base_url, sink, notifications=False)
    wait_for(running.live, what="the tag stream live")
    yield server.sandbox, sink, running
    running.stop()


@PROPERTY
@given(batch=st.lists(mastodon_cases(), min_size=1, max_size=8))
def test_whatever_a_server_federates_good_statuses_are_stored_once_and_bad_ones_put_aside(tag_desk, batch):
    sandbox, sink, running = tag_desk
    before = sandbox.push("before the batch #delta", author="jane")
    for case in batch:
        if isinstance(case.payload, bytes):
            sandbox.send_raw(case.payload)
            continue
        text, fields = case.payload
        pushed = sandbox.push(text, author="eve", fields=fields)
        if case.expect == STORED:
            case.native_id = case.native_id or pushed.id
    after = sandbox.push("after the batch #delta", author="jane")
    check(sink, batch, [before.id, after.id])
    assert running.reconnects(TAG) == 0
    assert running.states(TAG)[-1] == "streaming"
