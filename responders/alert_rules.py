"""Alert rules as configuration: `[[alerts.rules]]` tables in earful.toml, each with a `kind`.

Per mention (checked as each mention is stored): `tier`, `vip`, `terms`, `negative_reach`.
On a clock (checked every minute by `earful serve`): `sla` (about to breach, breached), `volume_spike`,
`negative_spike`, `incident`, `silent`.

Every rule has a unique `name` (what subscribers pick and what `earful alerts history` shows) and may be limited
to some brands and networks. The models validate everything a typo could break (unknown tier, a query that
does not parse, a threshold out of range) so a bad edit is refused with the key named, and the running process
keeps the rules it had (see `earful.pipeline` hot reload).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from listener.terms import QueryError, compile_query
from store.threads import TIER_ORDER

NETWORKS = ("x", "mastodon", "bluesky", "reddit")


def known_networks(value: list[str]) -> list[str]:
    unknown = [n for n in value if n not in NETWORKS]
    if unknown:
        raise ValueError(f"unknown network {unknown[0]!r}; choose from {', '.join(NETWORKS)}")
    return value


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    # Empty: every brand / every network.
    brands: list[str] = Field(default_factory=list)
    networks: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("networks")
    @classmethod
    def _known_networks(cls, value: list[str]) -> list[str]:
        return known_networks(value)

    def applies(self, brand: str | None, network: str | None) -> bool:
        if not self.enabled:
            return False
        if self.brands and brand not in self.brands:
            return False
        return not (self.networks and network not in self.networks)


def _tier(value: str) -> str:
    if value not in TIER_ORDER:
        raise ValueError(f"unknown tier {value!r}; choose from {', '.join(TIER_ORDER)}")
    return value


class TierRule(_Rule):
    """A customer mention whose urgency tier is at least `min_tier`."""

    kind: Literal["tier"] = "tier"
    min_tier: str = "critical"

    @field_validator("min_tier")
    @classmethod
    def _known_tier(cls, value: str) -> str:
        return _tier(value)


class VipRule(_Rule):
    """A mention from a VIP: a customer whose tier is in `customer_tiers`, or an author with at least
    `min_followers` followers (0: followers do not count)."""

    kind: Literal["vip"] = "vip"
    customer_tiers: list[str] = Field(default_factory=lambda: ["vip"])
    min_followers: int = Field(default=100_000, ge=0)


class TermsRule(_Rule):
    """A mention matching a boolean query in the brand terms' language, e.g. `recall OR lawsuit OR "on fire"`."""

    kind: Literal["terms"] = "terms"
    query: str

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            compile_query(value)
        except QueryError as exc:
            raise ValueError(f"the query {value!r} does not parse: {exc}") from None
        return value


class NegativeReachRule(_Rule):
    """A negative mention whose author has at least `min_followers` followers: an angry voice many will hear."""

    kind: Literal["negative_reach"] = "negative_reach"
    min_followers: int = Field(default=10_000, ge=1)


class SlaRule(_Rule):
    """A thread whose first answer is due within `before_minutes` (about to breach) or overdue (`breached`): once
    per episode of the thread, a breach after its warning refreshing that alert (responders.episodes)."""

    kind: Literal["sla"] = "sla"
    before_minutes: float = Field(default=5.0, ge=0)
    breached: bool = True
    # Only threads at or above this urgency tier.
    min_tier: str = "high"

    @field_validator("min_tier")
    @classmethod
    def _known_tier(cls, value: str) -> str:
        return _tier(value)


class VolumeSpikeRule(_Rule):
    """More customer mentions in the last `window_minutes` than the hour of the week usually brings.

    The statistic is a z-score against the baseline for that hour of the week (see responders.spikes); it
    fires at `z` or above, and only with at least `min_count` mentions, so a quiet hour's 3 instead of 1 stays
    quiet."""

    kind: Literal["volume_spike"] = "volume_spike"
    window_minutes: int = Field(default=60, ge=5, le=24 * 60)
    z: float = Field(default=4.0, gt=0)
    min_count: int = Field(default=20, ge=1)
    # Weeks of history the baseline learns from.
    history_weeks: int = Field(default=4, ge=1, le=52)


class NegativeSpikeRule(_Rule):
    """A larger share of negative mentions in the last `window_minutes` than usual for the hour of the week."""

    kind: Literal["negative_spike"] = "negative_spike"
    window_minutes: int = Field(default=60, ge=5, le=24 * 60)
    z: float = Field(default=4.0, gt=0)
    min_count: int = Field(default=20, ge=1)
    history_weeks: int = Field(default=4, ge=1, le=52)


class IncidentRule(_Rule):
    """A new incident: at least `min_customers` different customers posting near-duplicate complaints (cosine
    similarity of the encoder's embeddings at least `similarity`) within `window_minutes`. It alerts once, then
    sends an update when more customers join, at most every `update_minutes`."""

    kind: Literal["incident"] = "incident"
    window_minutes: int = Field(default=60, ge=5, le=24 * 60)
    min_customers: int = Field(default=3, ge=2)
    # 0.75 found 2 in 3 paraphrased complaint themes with about one false incident every two weeks on a
    # real support account; 0.8 never raised a false one but found fewer (`python -m bench detection`).
    similarity: float = Field(default=0.75, gt=0, lt=1)
    update_minutes: int = Field(default=30, ge=1)


class SilentRule(_Rule):
    """A network that brought nothing new for `minutes`, none of its sources delivering and no stream of it live:
    how a revoked token looks from outside (responders.silence; a source standing by is never silent)."""

    kind: Literal["silent"] = "silent"
    minutes: float = Field(default=60.0, gt=0)


MENTION_KINDS = ("tier", "vip", "terms", "negative_reach")
WINDOW_KINDS = ("sla", "volume_spike", "negative_spike", "incident", "silent")

AlertRule = Annotated[
    TierRule
    | VipRule
    | TermsRule
    | NegativeReachRule
    | SlaRule
    | VolumeSpikeRule
    | NegativeSpikeRule
    | IncidentRule
    | SilentRule,
    Field(discriminator="kind"),
]
