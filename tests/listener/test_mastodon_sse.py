"""Mastodon's streams read as the SSE standard (WHATWG HTML 9.2.6) frames events, not only as Mastodon writes
them: CRLF or CR line ends, `data:` without its space, JSON over several `data:` lines, comments, `id:` and
`retry:` fields. Through Mastodon.py against the sandbox; and whatever is put aside on a stream is read again
from the REST timeline, since no stream status moves the cursor past it."""

from __future__ import annotations

import re

import mastodon_testkit
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mastodon_testkit import wait_for

from listener.mastodon_stream import Lines
from listener.sandbox.mastodon_streams import Framing

pytestmark = pytest.mark.timeout(60)
mastodon_server = mastodon_testkit.mastodon_server
supervise = mastodon_testkit.supervise
TAG = "mastodon:tag:delta"

FRAMINGS = {
    "CRLF": Framing(line_end=b"\r\n"),
    "CR": Framing(line_end=b"\r"),
    "data: without the space": Framing(space=False),
    "JSON over several data: lines": Framing(split_data=True),
    "a comment, id: and retry:": Framing(extras=True),
    "all at once": Framing(line_end=b"\r\n", space=False, split_data=True, extras=True),
}


def test_spec_valid_framings_are_stored_from_the_stream(mastodon_server, supervise, store_sink):
    server = mastodon_server(replay=False, only=("Delta",), keepalive=0.05)
    sandbox = server.sandbox
    # No reconciliation during the test: what is stored came down the stream.
    running = supervise(server.base_url, reconcile_seconds=3600, quiet_seconds=3600)
    wait_for(running.live, what="both streams caught up")
    posted = {}
    for name, framing in FRAMINGS.items():
        sandbox.set_framing(framing)
        posted[name] = sandbox.push(f"#delta @Delta framed as {name}: where is my bag", author="ana")
    wait_for(
        lambda: {s.id for s in posted.values()} <= set(store_sink.native_ids()),
        what="every framing's status stored",
    )
    assert store_sink.quarantined() == [], [q.reason for q in store_sink.quarantined()]
    assert {s.id for s in posted.values()} <= set(sandbox.delivered)
    assert running.reconnects(TAG) == 0 and running.reconnects("mastodon:notifications") == 0
    stored = {m.native_id: m for m in store_sink.mentions()}
    for name, status in posted.items():
        assert f"framed as {name}" in stored[status.id].text


def test_an_event_put_aside_on_the_stream_is_recovered_from_the_timeline(
    mastodon_server, supervise, store_sink
):
    server = mastodon_server(replay=False, only=("Delta",), keepalive=0.05)
    sandbox = server.sandbox
    # No rewind: the backfill starts right at the cursor, as it does for any gap older than the rewind.
    running = supervise(
        server.base_url,
        notifications=False,
        reconcile_seconds=0.3,
        quiet_seconds=3600,
        backfill_rewind_seconds=0,
    )
    wait_for(running.live, what="the stream caught up")
    # A status whose stream event arrives mangled (cut short by a proxy; or one earful fails to read)...
    sandbox.swallow(1)
    lost = sandbox.push("#delta my refund never came", author="kim")
    sandbox.swallow(0)
    sandbox.send_raw(f'event: update\ndata: {{"id": "{lost.id}", "content": "<p>my refund'.encode())
    wait_for(lambda: store_sink.quarantined(), what="the mangled event put aside")
    # ...then a newer status that streams fine: it must not carry the cursor past the lost one.
    later = sandbox.push("#delta and now my seat is gone", author="kim")
    wait_for(lambda: later.id in store_sink.native_ids(), what="the later status")
    sandbox.drop()  # a reconnect's backfill starts at the cursor too
    wait_for(
        lambda: lost.id in store_sink.native_ids(), timeout=15, what="the lost status, from the timeline"
    )
    [aside] = store_sink.quarantined()
    assert lost.id.encode() in aside.raw and "not JSON" in aside.reason
    stored = store_sink.native_ids()
    assert len(stored) == len(set(stored))


LINE_ENDS = st.sampled_from([b"\n", b"\r", b"\r\n"])
LINE = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@given(st.lists(st.tuples(LINE, LINE_ENDS), max_size=12), st.lists(st.integers(1, 7), max_size=40))
def test_lines_end_at_crlf_lf_or_cr_however_the_chunks_fall(lines, cuts):
    stream = b"".join(line + end for line, end in lines)
    chunks, at = [], 0
    for cut in cuts:
        chunks.append(stream[at : at + cut])
        at += cut
    chunks.append(stream[at:])
    splitter = Lines()
    got = [line for chunk in chunks for line, _ in splitter.feed(chunk)]
    # The whole stream at once, by the standard's rule (a CR then an LF is one line end): the same lines.
    expected = re.split(rb"\r\n|\r|\n", stream.removeprefix(b"\xef\xbb\xbf"))[:-1]
    assert got == expected
