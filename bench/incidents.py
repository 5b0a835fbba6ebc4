"""The incident rule's figures behind `IncidentRule.similarity`: false incidents per week and the real outage on
SpotifyCares' complaints (TWCS), and how many paraphrased complaint themes posted into real hours come out as an
incident of their own. Run by `python -m bench detection` (bench/detection.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bench.detection import HOUR, MINUTE, SPOTIFY_EVENT, Tweet, spotify_tweets
from nlp import ClassifyInput
from responders.incidents import Embed, Incident, IncidentItem, find_incidents, match_incident
from responders.spikes import hour_start

# One problem in different words, as different customers would post it.
THEMES = {
    "never arrived": (
        "my order 1234 never arrived", "still waiting on order 5678, never arrived",
        "order 9911 never showed up, where is it??", "my package never arrived and it's been 2 weeks",
    ),
    "app crash": (
        "app keeps crashing when I open it", "the app crashes every time I launch it",
        "your app crashed again on startup, fix it", "is the app down? it crashes as soon as it opens",
    ),
    "login": (
        "can't log in to my account, keeps saying wrong password", "I can't sign in, it rejects my password",
        "login broken?? it says my password is wrong but it isn't", "anyone else unable to log in? password error",
    ),
    "charged twice": (
        "I was charged twice for my order", "you double charged my card!!",
        "why did you charge me two times for one purchase?", "got billed twice this month, please refund",
    ),
    "site down": (
        "is your site down? nothing loads", "website not loading for me",
        "your website is down again", "site won't load, getting an error page",
    ),
    "refund": (
        "still haven't received my refund after 3 weeks", "where is my refund? returned the item a month ago",
        "my refund never came through, sent it back weeks ago", "been waiting forever for my refund",
    ),
    "promo code": (
        "the promo code from your email doesn't work at checkout", "your BLACKFRIDAY code isn't working",
        "discount code says invalid?? it's from your newsletter", "promo code not applying at checkout, help",
    ),
    "cancelled": (
        "you cancelled my order without telling me why", "why was my order cancelled?? no email, nothing",
        "my order just got cancelled for no reason", "order cancelled out of nowhere, what is going on",
    ),
    "music stops": (
        "music keeps stopping after every song", "playback stops after one track, every time",
        "the player stops after each song, really annoying", "songs stop playing after the first one ends",
    ),
    "verification email": (
        "never got the verification email", "the confirmation email never arrives, checked spam",
        "still no verification email after 5 tries", "not receiving the email to verify my account",
    ),
    "wrong item": (
        "I received the wrong item in my package", "you sent me the wrong size AND wrong colour",
        "got someone else's order, this isn't what I bought", "wrong product delivered, I ordered a blue one",
    ),
    "tracking": (
        "tracking hasn't updated in 5 days", "my tracking number says nothing since last week",
        "the tracking page has been stuck for days", "tracking info not updating, is my parcel lost?",
    ),
}  # fmt: skip


def complaint_items(tweets: Sequence[Tweet], classifier: Any) -> list[IncidentItem]:
    """The tweets an incident rule looks at: negative or complaints (the classifier's scores)."""
    scores = classifier.classify([ClassifyInput(text=t.text) for t in tweets])
    return [
        IncidentItem(t.tweet_id, t.tweet_id, t.author_id, t.text, t.created_at)
        for t, s in zip(tweets, scores, strict=True)
        if s.sentiment == "negative" or s.complaint >= 0.5
    ]


def scan_incidents(
    items: Sequence[IncidentItem],
    embed: Embed,
    *,
    similarity: float,
    every: timedelta = timedelta(minutes=10),
) -> list[Incident]:
    """Distinct incidents over `items` (oldest first), evaluated every `every` over the past hour as the rule
    would, a later evaluation of the same incident replacing the earlier (`match_incident`)."""
    times = np.array([i.created_at.timestamp() for i in items])
    found: dict[int, Incident] = {}
    now = items[0].created_at + HOUR if items else datetime.max.replace(tzinfo=UTC)
    while items and now <= items[-1].created_at + every:
        lo, hi = np.searchsorted(times, [(now - HOUR).timestamp(), now.timestamp()])
        for incident in find_incidents(items[lo:hi], embed, similarity=similarity, min_customers=3):
            earlier = match_incident(incident, {k: v.mention_ids for k, v in found.items()})
            key = incident.earliest.mention_id if earlier is None else earlier
            if earlier is None or incident.customers >= found[key].customers:
                found[key] = incident
        now += every
    return list(found.values())


def theme_recall(
    background: Sequence[IncidentItem], hours: Sequence[datetime], embed: Embed, *, similarity: float
) -> dict[str, float]:
    """THEMES posted (4 customers each) into real hours of complaints: the share of themes that become one
    incident of their own (>= 3 of their customers, >= 75% of its members theirs), and incidents of real
    background complaints alone."""
    times = np.array([i.created_at.timestamp() for i in background])
    found = alone = 0
    for n, hour in enumerate(hours):
        lo, hi = np.searchsorted(times, [hour.timestamp(), (hour + HOUR).timestamp()])
        posted = [
            IncidentItem(
                -(n * 1000 + t * 10 + j), 0, f"{theme}/{j}", f"@SpotifyCares {text}", hour + j * 13 * MINUTE
            )
            for t, (theme, texts) in enumerate(THEMES.items())
            for j, text in enumerate(texts)
        ]
        incidents = find_incidents(
            [*background[lo:hi], *posted], embed, similarity=similarity, min_customers=3
        )
        for theme in THEMES:
            own = [sum(k.startswith(f"{theme}/") for k in i.customer_keys) for i in incidents]
            found += any(o >= 3 and o >= 0.75 * i.customers for o, i in zip(own, incidents, strict=True))
        alone += sum(all(m.mention_id > 0 for m in i.members) for i in incidents)
    return {"theme_recall": round(found / (len(hours) * len(THEMES)), 3), "background_incidents": alone}


def incidents(similarities: Sequence[float] = (0.7, 0.75, 0.8, 0.85)) -> dict[str, dict[str, Any]]:
    """Per similarity threshold, on SpotifyCares' real complaints (Oct 4 - Dec 3 2017): incidents found outside
    the known event (false ones, per week), the customers in the event's largest, and THEMES' recall."""
    from nlp import Classifier

    classifier = Classifier.load()
    tweets = [t for t in spotify_tweets() if t.created_at >= datetime(2017, 10, 4, tzinfo=UTC)]
    items = complaint_items(tweets, classifier)
    weeks = (tweets[-1].created_at - tweets[0].created_at) / timedelta(weeks=1)
    # Hours drawn as a tweet is, so busy hours come up more often, as they do for incidents.
    rng = np.random.default_rng(11)
    hours = [hour_start(tweets[int(i)].created_at) for i in rng.integers(0, len(tweets), 80)]
    figures = {}
    for similarity in similarities:
        found = scan_incidents(items, classifier.embed, similarity=similarity)
        event = [i.customers for i in found if SPOTIFY_EVENT[0] <= i.first_at < SPOTIFY_EVENT[1]]
        figures[str(similarity)] = {
            "false_per_week": round((len(found) - len(event)) / weeks, 2),
            "event_customers": max(event, default=0),
            **theme_recall(items, hours, classifier.embed, similarity=similarity),
        }
    return figures
