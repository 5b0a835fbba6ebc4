"""Complaint topics: the hashtags, words and two-word phrases that set the period's complaints apart, as a share
of complaints.

Counting words alone ranks "back", "time" and "don't" first: every complaint says them. A topic is a term that
complaints use more than the other mentions do (the customers' non-complaints of both periods, and the previous
period's complaints, so a new problem stands out): terms are ranked by the log-odds ratio with an informative
Dirichlet prior (Monroe, Colaresi and Quinn 2008, "Fightin' Words"), counted per text, and shown by their share
of complaints. Function words, contractions, filler, links, handles and the brands' own names never count; a
phrase ("credit card") replaces its words when they mostly come with it; plurals count with their singular.

A busy week has hundreds of thousands of complaints; an even sample of at most TOPIC_SAMPLE texts per group gives
the same shares without reading every text.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from responders.report_model import COMPLAINT_THRESHOLD, Ranked
from responders.report_period import Period
from responders.report_sql import is_current, mentions_between
from responders.report_stopwords import STOPWORDS
from store.models import Identity, Mention, Thread

TOP = 10
# Topics are counted over at most about this many texts per group (the period's complaints, the previous
# period's, the other mentions): an even sample beyond it gives the same shares in a fraction of the time.
TOPIC_SAMPLE = 20_000
# The other mentions are only the measure complaints are set against: a smaller sample of them does.
BACKGROUND_SAMPLE = 10_000
# Below this many other mentions there is nothing to set complaints against: topics are ranked by share.
MIN_BACKGROUND = 20
# The prior's weight, in texts: enough to keep a term seen twice from outranking one seen forty times.
PRIOR_TEXTS = 10.0
# A word gives way to a phrase holding it when nearly half its texts or more have the phrase ("customer" to
# "customer service"): the phrase says what the word alone does not.
ABSORBED = 0.45

# Links and handles (@acme, @acme.bsky.social, @jane@example.social, u/jane, r/acme) are who and where, not what.
_URL = re.compile(r"https?://\S+|www\.\S+|@[\w.@-]+|(?<![\w/])[ur]/\w+", re.IGNORECASE)
# A hashtag, a word (apostrophes and hyphens inside it: don't, t-mobile), or any other run of non-space, which
# is never part of a term and ends a phrase: numbers, signs, emoji, sentence marks.
_TOKEN = re.compile(r"#(\w{2,})|([^\W\d_][\w'-]*)|\d\w*|[^\s\w#]+|#")
_NOT_PLURAL = ("ss", "us", "is", "ies")


@dataclass
class Counts:
    """Per-text counts of each term (its key), and the spellings seen for it."""

    texts: int = 0
    terms: Counter[str] = field(default_factory=Counter)
    spellings: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, found: dict[str, str], *, spelled: bool = False) -> None:
        self.texts += 1
        self.terms.update(found.keys())
        if spelled:  # only the period's own complaints are shown
            for key, spelling in found.items():
                self.spellings[key][spelling] += 1


def rank_topics(
    session: Session,
    period: Period,
    previous: Period,
    complaints: int,
    complaints_before: int,
    others: int | None = None,
) -> tuple[list[Ranked], int]:
    """The top complaint topics, as the share of complaints using them in the period and in the one before; and
    how many of the period's complaints were read for it. `others`: the customers' other mentions in both
    periods (their sample's size follows from it; None: as many as the complaints)."""
    stride = max(1, math.ceil(max(complaints, complaints_before) / TOPIC_SAMPLE))
    background = others if others is not None else complaints + complaints_before
    other_stride = max(1, math.ceil(background / BACKGROUND_SAMPLE))
    complaint = col(Mention.complaint) >= COMPLAINT_THRESHOLD
    other = or_(col(Mention.complaint) < COMPLAINT_THRESHOLD, col(Mention.complaint).is_(None))
    sampled = [complaint, other]
    if stride > 1:
        sampled[0] = and_(complaint, col(Mention.id) % stride == 0)
    if other_stride > 1:
        sampled[1] = and_(other, col(Mention.id) % other_stride == 0)
    query = select(is_current(Mention.created_at, period), complaint, col(Mention.text)).where(
        *mentions_between(session, previous.start, period.end),
        col(Mention.is_own).is_(False),
        or_(*sampled),
    )
    skip = own_names(session)
    now, before, rest = Counts(), Counts(), Counts()
    for cur, is_complaint, body in session.execute(query.execution_options(yield_per=2000)):
        found = terms_of(body, skip=skip)
        if cur and is_complaint:
            now.add(found, spelled=True)
        else:
            (before if is_complaint else rest).add(found)
    if not now.texts:
        return [], 0
    against = Counts(texts=before.texts + rest.texts, terms=before.terms + rest.terms)
    chosen = distinctive(now, against)
    return [
        Ranked(
            name=now.spellings[key].most_common(1)[0][0],
            current=100.0 * now.terms[key] / now.texts,
            previous=100.0 * before.terms[key] / before.texts if before.texts else 0.0,
        )
        for key in chosen
    ], now.texts


def own_names(session: Session) -> set[str]:
    """The brands and their own accounts (AppleSupport, spotifycares.bsky.social): who the complaint is to,
    never what it is about."""
    names = {b.lower() for b in session.execute(select(col(Thread.brand)).distinct()).scalars() if b}
    handles = session.execute(select(col(Identity.handle)).where(col(Identity.is_own).is_(True)).distinct())
    for handle in handles.scalars():
        first = (handle or "").lower().lstrip("@").split("@")[0].split(".")[0]
        if first:
            names.add(first)
    return names


def distinctive(now: Counts, against: Counts, top: int = TOP) -> list[str]:
    """The `top` terms that most set `now` apart from `against` (z-scored log-odds, see the module), each used by
    at least two of `now`'s texts and 1%; in order of their share of `now`. A phrase absorbs its words."""
    least = max(2, math.ceil(0.01 * now.texts))
    candidates = [t for t, n in now.terms.items() if n >= least]
    if against.texts < MIN_BACKGROUND:
        ranked = sorted(candidates, key=lambda t: (-now.terms[t], t))
    else:
        total = now.texts + against.texts
        scores = {t: _z(now.terms[t], now.texts, against.terms[t], against.texts, total) for t in candidates}
        ranked = sorted((t for t in candidates if scores[t] > 0), key=lambda t: (-scores[t], t))
    chosen: list[str] = []
    for term in ranked:
        if len(chosen) == top:
            break
        if not _absorbed(term, chosen, now):
            chosen = [c for c in chosen if not _absorbed(c, [term], now)]
            chosen.append(term)
    return sorted(chosen, key=lambda t: (-now.terms[t], t))


def _z(y_i: int, n_i: int, y_j: int, n_j: int, total: int) -> float:
    # The prior: the term's share of all texts, worth PRIOR_TEXTS texts on each side.
    alpha = PRIOR_TEXTS * (y_i + y_j) / total
    odds_i = (y_i + alpha) / max(n_i + PRIOR_TEXTS - y_i - alpha, 1e-9)
    odds_j = (y_j + alpha) / max(n_j + PRIOR_TEXTS - y_j - alpha, 1e-9)
    return (math.log(odds_i) - math.log(odds_j)) / math.sqrt(1 / (y_i + alpha) + 1 / (y_j + alpha))


def _absorbed(word: str, phrases: Iterable[str], counts: Counts) -> bool:
    """Whether `word` mostly comes inside one of `phrases` ("card" inside "credit card")."""
    return any(
        " " in phrase and word in phrase.split() and counts.terms[phrase] >= ABSORBED * counts.terms[word]
        for phrase in phrases
        if phrase != word
    )


def terms_of(body: str, *, skip: Iterable[str] = ()) -> dict[str, str]:
    """The terms one text raises, each once, keyed as counted, with the spelling used: hashtags ("#outage"),
    content words, and two-word phrases of adjacent content words ("credit card")."""
    lowered = _URL.sub(" . ", (body or "").lower().replace("’", "'"))
    skipped = STOPWORDS | set(skip) if skip else STOPWORDS
    found: dict[str, str] = {}
    last_key = last_word = ""
    # One pass of one expression: a word, or anything else (a number, a sign, an emoji), which ends a phrase.
    for tag, word in _TOKEN.findall(lowered):
        if tag:
            if tag not in skipped:
                found.setdefault("#" + tag, "#" + tag)
            last_key = ""
            continue
        word = word.strip("'-").removesuffix("'s")
        if len(word) < 3 or word in skipped or "'" in word:
            last_key = ""  # a stop word ends a phrase too
            continue
        key = word[:-1] if len(word) > 4 and word[-1] == "s" and not word.endswith(_NOT_PLURAL) else word
        found.setdefault(key, word)
        if last_key and last_key != key:
            found.setdefault(f"{last_key} {key}", f"{last_word} {word}")
        last_key, last_word = key, word
    return found


def topics_of(body: str, *, skip: Iterable[str] = ()) -> set[str]:
    """The terms of one text as they are counted (see terms_of)."""
    return set(terms_of(body, skip=skip))
