"""New incidents: several different customers posting near-duplicate complaints within a window.

Texts are compared by the cosine similarity of the classifier's embeddings (`Classifier.embed`: mean-pooled
encoder states, L2-normalised, cached with the scores, so mentions classified on arrival cost no new forward
pass). Complaints are grouped by average linkage: two groups join while the mean similarity between their
members is at least `similarity`. Unlike single linkage, a chain of loosely related complaints ("never arrived",
"never got my refund", "never got a reply") does not snowball into one group. A group becomes an incident when
at least `min_customers` distinct customers wrote in it: one angry customer posting five times is not one.

Feed it customer mentions that are negative or complaints (complaint score >= 0.5), not every mention:
"thanks!" from three customers is near-duplicate, but no incident; "same here" (neutral, no complaint) from
customers replying to another's complaint is the start of one.

A later evaluation of a growing incident shares members with the one already alerted: `match_incident` finds it,
so the caller updates that alert instead of sending a new one. Store the latest member ids with the alert on
every evaluation, so an incident lasting longer than the window still matches as its first members age out.

DEFAULT_SIMILARITY, measured on SpotifyCares' real complaints (TWCS sample, 8.7 weeks; `python -m bench
detection`, asserted in tests/responders/test_incidents.py): at 0.75, about 0.5 false incidents a week, the real
fault of 2017-11-28 seen with 6 customers, and 8 of 12 paraphrased themes posted into real hours found; at 0.8,
no false incident but 5 of 12 themes; at 0.85, 1 of 12. Below 0.75 themes start absorbing unrelated complaints.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

Embed = Callable[[Sequence[str]], np.ndarray]
K = TypeVar("K")

DEFAULT_SIMILARITY = 0.75


@dataclass(frozen=True)
class IncidentItem:
    """One customer complaint in the window; `customer_key` identifies its author across networks (the customer
    record's id, or network + user id when there is none)."""

    mention_id: int
    thread_id: int
    customer_key: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Incident:
    members: tuple[IncidentItem, ...]  # oldest first
    customer_keys: tuple[str, ...]  # distinct, in order of first complaint
    representative: IncidentItem  # the medoid: the complaint most like all the others
    cohesion: float  # mean cosine similarity between members

    @property
    def mention_ids(self) -> tuple[int, ...]:
        return tuple(m.mention_id for m in self.members)

    @property
    def thread_ids(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(m.thread_id for m in self.members))

    @property
    def customers(self) -> int:
        return len(self.customer_keys)

    @property
    def earliest(self) -> IncidentItem:
        return self.members[0]

    @property
    def first_at(self) -> datetime:
        return self.members[0].created_at

    @property
    def last_at(self) -> datetime:
        return self.members[-1].created_at

    def reason(self) -> str:
        minutes = max(1, round((self.last_at - self.first_at).total_seconds() / 60))
        return (
            f"{self.customers} different customers posted near-identical complaints within {minutes} minutes "
            f"({len(self.members)} mentions)"
        )

    def figures(self) -> dict[str, Any]:
        """For AlertFiring.figures (JSON)."""
        return {
            "customers": self.customers,
            "mentions": len(self.members),
            "mention_ids": list(self.mention_ids),
            "cohesion": round(self.cohesion, 3),
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "representative_mention_id": self.representative.mention_id,
        }


def find_incidents(
    items: Sequence[IncidentItem], embed: Embed, *, similarity: float, min_customers: int
) -> list[Incident]:
    """Groups of near-duplicate complaints from at least `min_customers` distinct customers, oldest first.

    Deterministic: the result does not depend on the order of `items` (they are sorted by time, then id)."""
    unique = {item.mention_id: item for item in items}
    ordered = sorted(unique.values(), key=lambda i: (i.created_at, i.mention_id))
    if len({i.customer_key for i in ordered}) < min_customers:
        return []
    vectors = np.asarray(embed([i.text for i in ordered]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    sims = vectors @ vectors.T
    incidents = []
    for group in average_linkage(sims, similarity):
        members = tuple(ordered[i] for i in group)
        keys = tuple(dict.fromkeys(m.customer_key for m in members))
        if len(keys) < min_customers:
            continue
        block = sims[np.ix_(group, group)]
        medoid = int(np.argmax(block.sum(axis=1)))  # ties: the earliest
        cohesion = float((block.sum() - len(group)) / (len(group) * (len(group) - 1)))
        incidents.append(Incident(members, keys, members[medoid], cohesion))
    return sorted(incidents, key=lambda i: (i.first_at, i.earliest.mention_id))


def average_linkage(sims: np.ndarray, threshold: float) -> list[list[int]]:
    """Clusters (lists of row indices, ascending) of average-linkage agglomeration cut at mean similarity
    `threshold`; singletons are left out.

    The nearest-neighbour-chain algorithm builds the whole tree in O(n^2); average linkage never merges at a
    higher similarity than an earlier merge below it, so the merges at or above the threshold are the cut."""
    n = len(sims)
    work = np.array(sims, dtype=np.float64)
    np.fill_diagonal(work, -np.inf)
    size = np.ones(n)
    active = np.ones(n, dtype=bool)
    parent = list(range(n))
    chain: list[int] = []
    remaining = n
    while remaining > 1:
        if not chain:
            chain.append(int(np.argmax(active)))
        a = chain[-1]
        row = np.where(active, work[a], -np.inf)
        row[a] = -np.inf
        b = int(np.argmax(row))
        if len(chain) > 1 and row[chain[-2]] >= row[b]:
            b = chain[-2]  # ties go back down the chain, so it always ends in a merge
        if len(chain) < 2 or b != chain[-2]:
            chain.append(b)
            continue
        chain.pop()
        chain.pop()
        if row[b] >= threshold:
            parent[_root(parent, b)] = _root(parent, a)
        merged = (size[a] * work[a] + size[b] * work[b]) / (size[a] + size[b])
        work[a], work[:, a] = merged, merged
        work[a, a] = -np.inf
        size[a] += size[b]
        active[b] = False
        remaining -= 1
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(_root(parent, i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def same_incident(incident: Incident, earlier_member_ids: Collection[int]) -> bool:
    """True when `incident` continues one already alerted (they share a member)."""
    return any(m in earlier_member_ids for m in incident.mention_ids)


def match_incident(incident: Incident, earlier: Mapping[K, Collection[int]]) -> K | None:
    """Of the incidents already alerted (key -> their member mention ids), the one `incident` continues: the one
    sharing most members (ties: the first in `earlier`'s order); None if it is new."""
    best, best_shared = None, 0
    members = set(incident.mention_ids)
    for key, ids in earlier.items():
        shared = len(members.intersection(ids))
        if shared > best_shared:
            best, best_shared = key, shared
    return best
