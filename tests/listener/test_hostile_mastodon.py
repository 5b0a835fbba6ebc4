"""One hostile Mastodon status must not stop Mastodon: a remote server federates whatever it likes. Each status
here is put aside with its reason and the stream goes on (real Mastodon.py against the sandbox, real SQLite)."""

from __future__ import annotations

from typing import Any

import mastodon_testkit
import pytest
from mastodon_testkit import wait_for

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
