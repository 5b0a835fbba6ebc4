"""Complaint topics: the hashtags and content words complaints use most, as a share of complaints.

A busy week has hundreds of thousands of complaints; an even sample of at most TOPIC_SAMPLE per period gives the
same shares without reading every text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel import Session, col

from responders.report_model import COMPLAINT_THRESHOLD, Ranked
from responders.report_period import Period
from responders.report_sql import is_current, mentions_between
from store.models import Mention, Thread

TOP = 10
# Topics are counted over at most about this many complaints per period (an even sample beyond it): the shares
# are as good, and reading every text of a busy week would cost seconds.
TOPIC_SAMPLE = 20_000

# Links and handles (@acme, @acme.bsky.social, @jane@example.social) are who and where, not what.
_URL = re.compile(r"https?://\S+|www\.\S+|@[\w.@-]+", re.IGNORECASE)
_HASHTAG = re.compile(r"#(\w{2,})")
_WORD = re.compile(r"[^\W\d_][\w'’]{2,}")
_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
    few for from further get got had hadn't has hasn't have haven't having he her here hers herself him himself
    his how i i'm i've if in into is isn't it it's its itself just let's me more most mustn't my myself no nor
    not now of off on once only or other ought our ours ourselves out over own same she should shouldn't so
    some still such than that that's the their theirs them themselves then there there's these they they're
    this those through to too under until up very was wasn't we we're we've were weren't what what's when where
    which while who whom why will with won't would wouldn't you you're you've your yours yourself yourselves
    please thanks thank hi hello hey yes yet one two ever even really already since via amp http https com
    im dont cant didnt doesnt wont ive youre thats whats isnt wasnt arent
    """.split()
)


def rank_topics(
    session: Session, period: Period, previous: Period, complaints: int, complaints_before: int
) -> tuple[list[Ranked], int]:
    """The top hashtags and content words of complaints, as the share of complaints using them in the period and
    in the one before; and how many of the period's complaints were read for it."""
    stride = max(1, math.ceil(max(complaints, complaints_before) / TOPIC_SAMPLE))
    query = select(is_current(Mention.created_at, period), col(Mention.text)).where(
        *mentions_between(session, previous.start, period.end),
        col(Mention.is_own).is_(False),
        col(Mention.complaint) >= COMPLAINT_THRESHOLD,
    )
    if stride > 1:
        query = query.where(col(Mention.id) % stride == 0)
    brands = {b.lower() for b in session.execute(select(col(Thread.brand)).distinct()).scalars() if b}
    seen: dict[int, Counter[str]] = {0: Counter(), 1: Counter()}
    read = {0: 0, 1: 0}
    for cur, body in session.execute(query.execution_options(yield_per=2000)):
        read[cur] += 1
        seen[cur].update(topics_of(body, skip=brands))
    if not read[1]:
        return [], 0
    ranked = sorted(seen[1].items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return [
        Ranked(
            name=topic,
            current=100.0 * count / read[1],
            previous=100.0 * seen[0][topic] / read[0] if read[0] else 0.0,
        )
        for topic, count in ranked
    ], read[1]


def topics_of(body: str, *, skip: Iterable[str] = ()) -> set[str]:
    """The topics one text raises: its hashtags ("#outage") and its content words, each once."""
    lowered = _URL.sub(" ", (body or "").lower())
    tags = {"#" + tag for tag in _HASHTAG.findall(lowered)}
    words = {w.strip("'’") for w in _WORD.findall(_HASHTAG.sub(" ", lowered))}
    skipped = _STOPWORDS | set(skip)
    return {t for t in tags if t[1:] not in skipped} | {w for w in words if len(w) > 2 and w not in skipped}
