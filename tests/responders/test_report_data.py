"""The report's figures against the previous week, on a small crafted dataset, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from responders.report import build_week_report
from responders.report_data import collect
from responders.report_html import headline
from responders.report_model import change
from responders.report_period import iso_week_period
from responders.report_topics import topics_of
from responders.sla import SLASettings
from store import Store
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions
from store.models import Mention, Reply

MON = datetime(2026, 11, 16, tzinfo=UTC)  # 2026-W47
PREV = MON - timedelta(days=7)  # 2026-W46
NOW = MON + timedelta(days=7, hours=1)
BRAND = Author(native_user_id="acme", handle="acme", display_name="Acme")


def customer(
    native_id: str,
    conv: str,
    at: datetime,
    text: str,
    *,
    who: str,
    network: str = "x",
    sentiment: str = "negative",
    complaint: float = 0.9,
    tier: str = "normal",
    urgency: int = 40,
    entities: list[dict[str, Any]] | None = None,
) -> ScoredMention:
    return ScoredMention(
        mention=NewMention(
            network=network,
            native_id=native_id,
            conversation_id=conv,
            text=text,
            created_at=at,
            author=Author(native_user_id=f"u-{who}", handle=who, display_name=who.title()),
            brand="Acme",
        ),
        scores=Scores(
            sentiment=sentiment,
            complaint=complaint,
            urgency=urgency,
            urgency_tier=tier,
            entities=entities or [],
        ),
    )


def brand(native_id: str, conv: str, at: datetime, network: str = "x") -> ScoredMention:
    return ScoredMention(
        mention=NewMention(
            network=network,
            native_id=native_id,
            conversation_id=conv,
            text="Sorry about that, DM us",
            created_at=at,
            author=BRAND,
            brand="Acme",
            is_own=True,
        )
    )


def product(name: str) -> dict[str, Any]:
    return {"label": "PRODUCT", "text": name, "start": 0, "end": len(name)}


def seed(store: Store) -> None:
    h, m = timedelta(hours=1), timedelta(minutes=1)
    items = [
        # 2026-W46: one complaint answered in 30 minutes (high: SLA met), one never answered (normal: missed).
        customer("p1", "p1", PREV + h, "Order 123456 late, widget missing", who="jane", tier="high", urgency=70,
                 entities=[product("Widget")]),
        brand("p1r", "p1", PREV + h + 30 * m),
        customer("p2", "p2", PREV + 48 * h, "love it", who="bob", network="mastodon", sentiment="positive",
                 complaint=0.1),
        # 2026-W47.
        customer("a1", "a", MON + 10 * h, "My #refund for the widget never arrived", who="jane",
                 tier="critical", urgency=90, entities=[product("Widget"), {"label": "ORDER", "text": "123456"}]),
        brand("a1r", "a", MON + 10 * h + 10 * m),
        customer("a2", "a", MON + 11 * h, "Still no #refund, widget broken", who="jane", complaint=0.8,
                 tier="critical", urgency=90, entities=[product("widget")]),
        customer("b1", "b", MON + 24 * h, "How do I change my address?", who="carl", sentiment="neutral",
                 complaint=0.2),
        brand("b1r", "b", MON + 29 * h),
        customer("c1", "c", MON + 48 * h, "The widget app crashed again", who="dora", network="bluesky",
                 sentiment="positive", complaint=0.6, tier="low", urgency=10,
                 entities=[product("Widget"), {"label": "EMAIL", "text": "dora@example.com"}]),
        customer("d1", "d", MON + 6 * 24 * h + 22 * h, "Where is my parcel #refund", who="eve", tier="low",
                 urgency=10),
    ]  # fmt: skip
    with store.write() as session:
        save_mentions(items, session=session, sla=SLASettings().budgets())
    with store.write() as session:
        ids = {m.native_id: m for m in session.exec(select(Mention)).all()}

        def sent(key: str, responder: str, template: str | None, after: timedelta) -> Reply:
            mention = ids[key]
            assert mention.id is not None
            return Reply(
                thread_id=mention.thread_id,
                in_reply_to_id=mention.id,
                responder=responder,
                text="Sorry!",
                status="sent",
                idempotency_key=f"k-{key}-{responder}",
                template=template,
                created_at=mention.created_at + after,
                sent_at=mention.created_at + after,
            )

        session.add(sent("p1", "sam", "refund-sorry", 30 * m))
        session.add(sent("a1", "sam", "refund-sorry", 10 * m))
        session.add(sent("a2", "sam", "refund-sorry", 20 * m))
        session.add(sent("b1", "=ann", None, 5 * h))
        # Queued, never sent: not a reply anyone received.
        unsent = sent("c1", "sam", "refund-sorry", 1 * m)
        unsent.status, unsent.sent_at = "queued", None
        session.add(unsent)


def test_figures_and_changes_against_the_previous_week(any_store: Store) -> None:
    seed(any_store)
    with any_store.read() as session:
        data = collect(session, iso_week_period("2026-W47"), sla=SLASettings().budgets(), now=NOW)

    assert (data.period.label, data.previous.label, data.previous.short) == ("2026-W47", "2026-W46", "W46")
    now, before = data.current, data.prior
    assert (now.mentions, now.complaints, now.negative, now.threads, now.brand_posts) == (5, 4, 3, 4, 2)
    assert (before.mentions, before.complaints, before.negative, before.threads, before.brand_posts) == (
        2,
        1,
        1,
        2,
        1,
    )
    assert now.urgency == {"critical": 2, "high": 0, "normal": 1, "low": 2}
    assert [(d.day.isoformat(), d.total, d.networks) for d in data.days if d.total] == [
        ("2026-11-16", 2, {"x": 2}),
        ("2026-11-17", 1, {"x": 1}),
        ("2026-11-18", 1, {"bluesky": 1}),
        ("2026-11-22", 1, {"x": 1}),
    ]
    assert data.networks == ["x", "bluesky"] and len(data.days) == 7

    # First response: a (critical) in 10 minutes, b (normal) in 5 hours; c (low, 5 days old) missed its day;
    # d (low, 3 hours old) is still within its day.
    everything = now.tier_response("all")
    assert (everything.answered, everything.median_seconds, everything.p90_seconds) == (2, 9300, 18000)
    assert (everything.met, everything.missed, everything.waiting) == (1, 2, 1)
    assert now.tier_response("critical").median_seconds == 600
    assert (now.tier_response("low").missed, now.tier_response("low").waiting) == (1, 1)
    assert before.tier_response("all").sla_met_percent == 50.0

    figures = {what: (value, delta.text, delta.tone) for value, what, delta in headline(data)}
    assert figures["customer mentions"] == ("5", "+150% vs W46", "same")
    assert figures["complaints"] == ("4", "+300% vs W46", "worse")
    assert figures["negative"] == ("60.0%", "+10.0 pts vs W46", "worse")
    assert figures["active threads"] == ("4", "+100% vs W46", "same")
    assert figures["median first response"] == ("2h 35m", "+417% vs W46", "worse")
    assert figures["SLA met"] == ("33.3%", "-16.7 pts vs W46", "worse")
    assert figures["brand posts"] == ("2", "+100% vs W46", "same")

    # Entities fold case ("Widget", "widget"); e-mail addresses are never ranked.
    assert [(e.name, e.detail, e.current, e.previous) for e in data.entities] == [
        ("Widget", "PRODUCT", 3, 1),
        ("123456", "ORDER", 1, 0),
    ]
    topics = {t.name: (t.current, t.previous) for t in data.topics}
    assert topics["widget"] == (75.0, 100.0) and topics["#refund"] == (75.0, 0.0)
    assert [t.name for t in data.topics[:2]] == ["#refund", "widget"] and data.topics_read == 4
    assert [(c.name, c.handles, c.complaints, c.previous) for c in data.complainers] == [
        ("Jane", "x:@jane", 2, 1),
        ("Dora", "bluesky:@dora", 1, 0),
        ("Eve", "x:@eve", 1, 0),
    ]
    assert [(r.name, r.threads, r.replies, r.median_seconds, r.previous_threads, r.previous_median_seconds)
            for r in data.responders] == [("sam", 1, 2, 900, 1, 1800), ("=ann", 1, 1, 18000, 0, None)]  # fmt: skip
    assert [(t.name, t.current, t.previous) for t in data.templates] == [("refund-sorry", 2, 1), ("", 1, 0)]


def test_a_range_compares_with_the_same_length_before(any_store: Store) -> None:
    seed(any_store)
    from responders.report_period import since_until_period

    period = since_until_period("2026-11-16", "2026-11-17", now=NOW)
    with any_store.read() as session:
        data = collect(session, period, sla=SLASettings().budgets(), now=NOW)
    assert (period.start, period.end) == (MON, MON + timedelta(days=2))
    assert (data.previous.start, data.previous.end) == (MON - timedelta(days=2), MON)
    assert (data.current.mentions, data.prior.mentions, len(data.days)) == (3, 0, 2)
    assert (
        change(data.current.mentions, data.prior.mentions, kind="count", good="either", vs="x").text == "new"
    )


def test_change_wording() -> None:
    assert change(10, 8, kind="count", good="down", vs="W46").text == "+25% vs W46"
    assert change(10, 8, kind="count", good="down", vs="W46").tone == "worse"
    assert change(6, 8, kind="duration", good="down", vs="W46").tone == "better"
    assert change(0, 0, kind="count", good="down", vs="W46").text == "no change vs W46"
    assert change(3, 0, kind="count", good="down", vs="W46").text == "new"
    assert change(40.0, None, kind="share", good="up", vs="W46").text == "new"
    assert change(None, 5, kind="duration", good="down", vs="W46").text == ""
    assert change(50.0, 50.02, kind="share", good="up", vs="W46").text == "no change vs W46"


def test_topics_of_a_text() -> None:
    found = topics_of(
        "@acme My #Refund for https://x.co/abc order 12345 isn't here, WIDGET broken!", skip={"acme"}
    )
    assert found == {"#refund", "order", "widget", "broken", "widget broken"}


def test_both_csvs_stream_from_either_database(any_store: Store, tmp_path: Path) -> None:
    seed(any_store)
    paths = build_week_report(any_store, "2026-W47", tmp_path, pdf=False, now=NOW)

    with paths.threads_csv.open(encoding="utf-8-sig", newline="") as f:
        threads = {row["thread_id"]: row for row in csv.DictReader(f)}
    with paths.mentions_csv.open(encoding="utf-8-sig", newline="") as f:
        mentions = list(csv.DictReader(f))
    assert len(threads) == paths.data.thread_rows == 4
    assert [m["native_id"] for m in mentions] == ["a1", "a1r", "a2", "b1", "b1r", "c1", "d1"]
    b1 = mentions[3]
    assert (b1["created_at"], b1["author_handle"], b1["complaint"], b1["is_own"]) == (
        "2026-11-17T00:00:00+00:00",
        "carl",
        "0.200",
        "false",
    )
    answered = threads[b1["thread_id"]]
    assert (answered["first_response_seconds"], answered["first_response"], answered["status"]) == (
        "18000",
        "5h 00m",
        "pending",
    )
    # The page's urgent list: most urgent, then most recently active.
    assert [t.urgency for t in paths.data.urgent] == [90, 40, 10, 10]
    assert paths.data.urgent[2].last_activity > paths.data.urgent[3].last_activity


def test_csv_cells_with_quotes_commas_line_breaks_and_hidden_formulas_read_back_safe(
    any_store: Store, tmp_path: Path
) -> None:
    # The database writes each CSV line: a quote, a comma or a line break in a text cell must not shift a column,
    # and a control character dropped on the way must not uncover a formula.
    texts = {
        "q": 'He said "refund", then hung up',
        "n": "line one\r\nline two\rthree,\nfour",
        "f": '\x07=HYPERLINK("http://evil")',
    }
    with any_store.write() as session:
        save_mentions(
            [customer(key, key, MON + timedelta(hours=i), text, who=f'x"{key},y') for i, (key, text) in
             enumerate(texts.items())],
            session=session,
        )  # fmt: skip
    paths = build_week_report(any_store, "2026-W47", tmp_path, pdf=False, now=NOW)

    with paths.mentions_csv.open(encoding="utf-8-sig", newline="") as f:
        mentions = {row["native_id"]: row for row in csv.DictReader(f)}
    with paths.threads_csv.open(encoding="utf-8-sig", newline="") as f:
        threads = list(csv.DictReader(f))
    assert {key: row["text"] for key, row in mentions.items()} == {
        "q": 'He said "refund", then hung up',
        "n": "line one\nline two\nthree,\nfour",
        "f": '\'=HYPERLINK("http://evil")',
    }
    assert {row["author_handle"] for row in mentions.values()} == {'x"q,y', 'x"n,y', 'x"f,y'}
    assert all(row["complaint"] == "0.900" and row["is_own"] == "false" for row in mentions.values())
    assert sorted(row["first_message"] for row in threads) == sorted(row["text"] for row in mentions.values())
    # Never answered: no response time (PostgreSQL's GREATEST once made it "0s").
    assert [(row["first_response_seconds"], row["first_response"]) for row in threads] == [("", "")] * 3
