"""Complaint topics on the shipped demo replay (real customer-support tweets, scored by the shipped classifier):
what the complaints are about, never the words every complaint says."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from listener.sandbox.replay import DATA
from responders.report_data import collect
from responders.report_period import iso_week_period
from responders.sla import SLASettings
from store.incoming import Author, NewMention, ScoredMention, Scores
from store.mentions import save_mentions

WEEK = iso_week_period("2026-W47")
# What a report reader called filler: words any complaint uses whatever it is about, and the brands themselves.
FILLER = {
    "don't", "don’t", "dont", "back", "time", "help", "get", "still", "can't", "i'm", "please", "need", "just",
    "now", "know", "thanks", "one", "even", "really", "issue", "problem", "going", "want", "got",
}  # fmt: skip
BRANDS = {
    "delta",
    "applesupport",
    "spotifycares",
    "americanair",
    "amazonhelp",
    "comcastcares",
    "uber_support",
}


@pytest.fixture(scope="module")
def replay_texts() -> list[tuple[str, str]]:
    """(brand account, text) of the replay's first customer tweets, as the demo streams them."""
    rows = [json.loads(line) for line in gzip.open(DATA, "rt", encoding="utf-8")]
    brand_of = {r["tweet_id"]: r["author_id"] for r in rows if not r["inbound"]}
    replies = {r["in_response_to_tweet_id"]: r["tweet_id"] for r in rows if r["in_response_to_tweet_id"]}
    texts = []
    for row in rows:
        answer = replies.get(row["tweet_id"])
        if row["inbound"] and answer in brand_of:
            texts.append((brand_of[answer], row["text"]))
    return texts[:700]


def test_complaint_topics_are_what_complaints_are_about_not_filler(sqlite_store, classifier, replay_texts):
    scores = classifier.score_texts([classifier.normalize(text) for _brand, text in replay_texts])
    items = []
    for i, ((brand, text), score) in enumerate(zip(replay_texts, scores, strict=True)):
        # Two thirds in the reported week, a third the week before: topics stand against both.
        at = WEEK.start + timedelta(minutes=7 * i) if i % 3 else WEEK.start - timedelta(minutes=5 * i + 1)
        items.append(
            ScoredMention(
                mention=NewMention(
                    network="x",
                    native_id=f"t{i}",
                    conversation_id=f"c{i}",
                    text=text,
                    created_at=at,
                    author=Author(native_user_id=f"u{i}", handle=f"user{i}", display_name=f"User {i}"),
                    brand=brand.lower(),
                ),
                scores=Scores(
                    sentiment="negative", complaint=score.complaint, urgency=50, urgency_tier="normal"
                ),
            )
        )
        # The brand's own account answers in the thread, as in the demo: its handle is who, not what.
        items.append(
            ScoredMention(
                mention=NewMention(
                    network="x",
                    native_id=f"r{i}",
                    conversation_id=f"c{i}",
                    text="Sorry to hear that, DM us",
                    created_at=at + timedelta(minutes=1),
                    author=Author(native_user_id=brand, handle=brand, display_name=brand),
                    brand=brand.lower(),
                    is_own=True,
                ),
            )
        )
    with sqlite_store.write() as session:
        save_mentions(items, session=session)

    data = collect(sqlite_store, WEEK, sla=SLASettings().budgets(), now=datetime(2026, 11, 30, tzinfo=UTC))
    topics = [t.name for t in data.topics]
    assert len(topics) == 10 and data.topics_read > 100, topics
    assert not {t.lstrip("#") for t in topics} & (FILLER | BRANDS), topics
    # What these complaints are about: phones, deliveries and drivers, and the service itself.
    about = {
        "customer service",
        "delivery",
        "phone",
        "driver",
        "flight",
        "refund",
        "order",
        "account",
        "update",
    }
    assert len(about & set(topics)) >= 3, topics
