"""What the per-network property tests share: odd text and numbers to build events from, the cases an event
generator returns (each says what must become of it), and the check that it did.

Every case carries a marker, a token no other event has, written where it survives any cut (first in the JSON),
so the event can be found in quarantine by its bytes; an event that must be stored is found by its native id.
A test feeds a batch of cases between good events, waits for the last good one (every source here delivers in
order, so everything before it was handled by then), and checks every case."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from x_testkit import StoreSink, wait_for

STORED, ASIDE, IGNORED = "stored", "put aside", "ignored"
# One sandbox and one collector per test (per back end), not per example: examples share them. A longer hunt:
# EARFUL_HOSTILE_EXAMPLES=500.
PROPERTY = settings(
    max_examples=int(os.environ.get("EARFUL_HOSTILE_EXAMPLES", "25")),
    print_blob=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

_counter = itertools.count(1)


def unique() -> int:
    """A number no other event of this test run has (hypothesis may replay a drawn value)."""
    return next(_counter)


def marker() -> str:
    """A token no other event has, none a part of another: found in quarantine by its bytes."""
    return f"hx{unique():08d}x"


@dataclass
class Case:
    """One generated event: what it is (`why`), what must become of it, and how to find it."""

    why: str
    expect: str
    marker: str
    native_id: str | None = None
    # What is sent (a line, a frame, fields...): left out of hypothesis's report, which can be megabytes.
    payload: Any = field(default=None, repr=False)


# Characters that break naive code: lone surrogates, NUL, bidi overrides, zero-width joiners, combining marks,
# a family emoji, terminal escapes (OSC 52 writes the clipboard), CRLF, markup of Rich, HTML and spreadsheets.
ODD_PIECES = [
    "\ud800",
    "\udfff",
    "\x00",
    "\u202e",
    "\u200b\u200d\ufeff",
    "e\u0301\u0301\u0301",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "\x1b]52;c;aGk=\x07",
    "\x1b[2J",
    "\r\n",
    "\u2028",
    "[/]",
    "[link=https://x]",
    "<script>",
    "&amp;",
    '=HYPERLINK("x")',
    "\x85\x9b",
]


def odd_text() -> st.SearchStrategy[str]:
    piece = st.one_of(st.sampled_from(ODD_PIECES), st.text(max_size=12))
    return st.lists(piece, max_size=5).map("".join)


# Past the store's 40,000 characters: kept, cut, with a note.
huge_text = st.integers(40_001, 45_000).map(lambda n: "long " * (n // 5))
# Numbers a follower count or an id field can be sent as.
odd_numbers = st.sampled_from([-1, 0, 2**31, 10**20, 10**400, 1e308, -0.0, True, "512", None, [5]])


def moment() -> st.SearchStrategy[datetime]:
    """Any instant a post could have been written at, and far into the future (clamped when stored)."""
    return st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )


def offsets() -> st.SearchStrategy[timedelta]:
    return st.sampled_from([timedelta(0), timedelta(hours=5), timedelta(hours=-5), timedelta(hours=14)])


# Dates no parser may let through (a year before 1 or after 9999 in UTC, naive, not dates at all), and one
# before 1970 that the store refuses.
BAD_ISO_DATES = [
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "1969-12-31T23:59:59+00:00",
    "yesterday",
    "",
    "2024-13-45T25:61:61Z",
]


def check(sink: StoreSink, cases: list[Case], good: list[str], *, timeout: float = 20.0) -> None:
    """Wait for the good events (the last one last), then: every good event and every case that must be stored
    is stored exactly once, every case that must be put aside is in quarantine with a reason (and not stored),
    and what must be ignored is neither."""
    wanted = set(good) | {c.native_id for c in cases if c.expect == STORED and c.native_id}
    asides = [c for c in cases if c.expect == ASIDE]

    def settled() -> bool:
        if not wanted <= set(sink.native_ids()):
            return False
        raws = [item.raw for item in sink.quarantined()]
        return all(any(c.marker.encode() in raw for raw in raws) for c in asides)

    try:
        wait_for(settled, timeout=timeout, what="the batch to be handled")
    except AssertionError:
        stored = set(sink.native_ids())
        raws = [item.raw for item in sink.quarantined()]
        missing = [c.why for c in cases if c.expect == STORED and c.native_id not in stored]
        missing += [f"good {g}" for g in good if g not in stored]
        not_aside = [c.why for c in asides if not any(c.marker.encode() in raw for raw in raws)]
        raise AssertionError(f"not stored: {missing}; not put aside: {not_aside}") from None
    counts = Counter(sink.native_ids())
    twice = [native for native in wanted if counts[native] != 1]
    assert not twice, f"stored more than once: {twice}"
    quarantined = sink.quarantined()
    for case in cases:
        kept = [q for q in quarantined if case.marker.encode() in q.raw]
        if case.expect == ASIDE:
            assert all(q.reason.strip() for q in kept), (case.why, [q.reason for q in kept])
            assert case.native_id is None or case.native_id not in counts, f"stored: {case.why}"
        else:
            assert not kept, f"{case.why}: put aside ({kept[0].reason})"
        if case.expect == IGNORED and case.native_id is not None:
            assert case.native_id not in counts, f"stored: {case.why}"
