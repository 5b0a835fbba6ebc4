"""Alert settings and the per-mention rules.

Firing and sending are separate steps, so an alert survives a crash or a subscriber being down:

1. `queue_alerts` runs inside the ingestion transaction: each stored mention that trips a per-mention rule
   (responders.alert_rules) becomes one `AlertFiring` (at most once per mention, so a replay never alerts twice)
   and `route_episode` (responders.episodes) writes a delivery per subscriber who wants it and has not heard of
   the thread's episode yet, pending or held for a digest. A mention the brand answered in the same batch fires
   but is sent to nobody (responders.answered). The window rules (SLA, spikes, incidents, silence) fire from
   responders.alert_windows and responders.silence the same way.
2. `responders.delivery.deliver_pending` drops what the brand answered meanwhile, folds due digests, sends what
   is due, and retries failures with backoff.

Subscriber URLs carry credentials (tokens, passwords), so they live only in settings: the database keeps the
subscriber's name, logs name the subscriber, and error text from apprise is scrubbed of the URL's parts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlmodel import Session, col, select

from listener.terms import Post, Query, compile_query
from responders.alert_rules import (
    MENTION_KINDS,
    AlertRule,
    NegativeReachRule,
    SilentRule,
    TermsRule,
    TierRule,
    VipRule,
)
from responders.answered import ANSWERED, answered_since
from responders.episodes import episode_firings, episode_key, route_episode, tier_rank, told_tier, with_tier
from responders.firing import example, record_firing, update_firing
from responders.report_model import network_name, plural
from responders.safe import one_line
from responders.subscribers import Subscriber
from store.clock import as_utc, utcnow
from store.models import AlertEvent, AlertFiring, Customer, Identity, Mention, Thread
from store.threads import TIER_ORDER

log = logging.getLogger(__name__)
_Row = TypeVar("_Row")

# A mention the classifier thinks more likely a complaint than not is called one in the alert.
COMPLAINT_THRESHOLD = 0.5


class AlertSettings(BaseModel):
    # The rules; none configured means two: mentions at `min_tier` or above, and sources silent for
    # `source_silent_minutes` (kept so the simplest configuration stays one line).
    rules: list[AlertRule] = Field(default_factory=list)
    min_tier: str = "critical"
    subscribers: list[Subscriber] = Field(default_factory=list)
    max_attempts: int = Field(default=8, ge=1)
    # Waits between attempts: base, 2x base, 4x base ... never more than the cap.
    retry_base_seconds: float = Field(default=30.0, gt=0)
    # Short enough that a target back from an outage hears everything within minutes.
    retry_cap_seconds: float = Field(default=300.0, gt=0)
    # An alert is given up only after max_attempts AND this long: a target down for hours still gets it.
    give_up_after_hours: float = Field(default=24.0, gt=0)
    # A subscriber that accepts the connection and never answers must not hold up the others for long.
    send_timeout_seconds: float = Field(default=30.0, gt=0)
    # A network with no new mention for this long, and no stream of it live, raises a "source silent" alert (0:
    # never). A quiet brand on a small network may want hours; a busy brand on X wants minutes.
    source_silent_minutes: float = Field(default=60.0, ge=0)
    # A thread already alerted in an episode (one unanswered run) alerts again only when its tier rises to this
    # one or above, past what was told: everything else about the same thread is folded into that alert.
    escalate_tier: str = "critical"
    # How often `earful serve` evaluates the window rules (SLA, spikes, incidents, silence) and due digests.
    evaluate_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Where the Monday report is built before it is mailed (default: reports/ in the user's data directory).
    report_dir: Path | None = None

    @field_validator("min_tier", "escalate_tier")
    @classmethod
    def _known_tier(cls, value: str) -> str:
        if value not in TIER_ORDER:
            raise ValueError(f"must be one of {', '.join(TIER_ORDER)}, not {value!r}")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> AlertSettings:
        names = [s.name for s in self.subscribers]
        if len(names) != len(set(names)):
            # Events are keyed by subscriber name: two with one name would share (and lose) alerts.
            raise ValueError("alert subscriber names must be unique")
        rules = [r.name for r in self.effective_rules()]
        if len(rules) != len(set(rules)):
            raise ValueError("alert rule names must be unique")
        for subscriber in self.subscribers:
            unknown = [r for r in subscriber.rules if r not in rules]
            if unknown:
                raise ValueError(
                    f"subscriber {subscriber.name!r} asks for rule {unknown[0]!r}, which is not configured "
                    f"(rules: {', '.join(rules)})"
                )
        return self

    def effective_rules(self) -> list[AlertRule]:
        if self.rules:
            return list(self.rules)
        defaults: list[AlertRule] = [TierRule(name="urgent-mention", min_tier=self.min_tier)]
        if self.source_silent_minutes > 0:
            defaults.append(SilentRule(name="source-silent", minutes=self.source_silent_minutes))
        return defaults

    def subscriber(self, name: str) -> Subscriber | None:
        return next((s for s in self.subscribers if s.name == name), None)


def queue_alerts(
    mentions: Sequence[Mention], *, session: Session, settings: AlertSettings, now: datetime | None = None
) -> list[AlertEvent]:
    """Fire the per-mention rules on freshly stored mentions and queue the deliveries; returns the new ones.

    Runs inside the ingestion transaction. Idempotent: a mention fires at most once (a replay changes nothing).
    A subscriber hears a thread's episode once (responders.episodes). Does not commit.
    """
    moment = as_utc(now) if now is not None else utcnow()
    events: list[AlertEvent] = []
    for firing in mention_firings(mentions, session=session, settings=settings, now=moment):
        events.extend(route_episode(firing, session=session, settings=settings, now=moment))
    return events


def mention_firings(
    mentions: Sequence[Mention], *, session: Session, settings: AlertSettings, now: datetime
) -> list[AlertFiring]:
    """Store a firing for each mention that trips a per-mention rule, and return those to route.

    One firing per mention, named after the first rule (in configuration order) that matched; `figures["rules"]`
    lists every rule that did, so a subscriber who asked for any of them hears about it once. A rule that already
    fired in the thread's episode fires no more in it, unless the tier rises to `settings.escalate_tier`: then
    its firing gets a new revision (an update). A mention the brand answered in the same batch (or whose thread
    is resolved) is recorded with why (`figures["answered"]`) and not returned: nobody is told."""
    rules = [r for r in settings.effective_rules() if r.kind in MENTION_KINDS and r.enabled]
    candidates = [m for m in mentions if m.id is not None and not m.is_own]
    if not rules or not candidates:
        return []
    identities = _by_id(Identity, {m.identity_id for m in candidates}, session=session)
    threads = _by_id(Thread, {m.thread_id for m in candidates}, session=session)
    customers = _by_id(Customer, {t.customer_id for t in threads.values()}, session=session)
    fired: list[AlertFiring] = []
    for mention in candidates:
        identity = identities.get(mention.identity_id)
        thread = threads.get(mention.thread_id)
        if identity is None or thread is None:
            log.warning("mention %s has no identity or thread; no alert", mention.id)
            continue
        customer = customers.get(thread.customer_id or -1)
        matched = [
            (rule, why)
            for rule in rules
            if rule.applies(mention.brand, mention.network)
            and (why := rule_matches(rule, mention, identity, customer)) is not None
        ]
        if not matched:
            continue
        answered = answered_since(thread, mention.created_at, session=session)
        key = f"mention:{mention.id}" if answered else _run_key(mention, thread)
        episode = episode_firings(key, session=session)
        told = {name for f in episode for name in f.figures.get("rules", [])}
        fresh = [(rule, why) for rule, why in matched if rule.name not in told]
        if not fresh:
            # The customer is still waiting on the same unanswered run: its alert already said it, unless the
            # thread has just become more urgent than anything told about it.
            raised = _escalate(
                episode, [r.name for r, _ in matched], mention, identity, settings, session, now
            )
            if raised is not None:
                fired.append(raised)
            continue
        rule, why = fresh[0]
        title, reason = _describe(mention, identity, why)
        figures = _figures(mention, identity, [r.name for r, _ in fresh])
        if answered:
            figures[ANSWERED] = answered
        firing = record_firing(
            session=session,
            rule=rule.name,
            kind=rule.kind,
            key=key,
            brand=mention.brand or None,
            network=mention.network,
            title=title,
            reason=reason,
            now=now,
            figures=with_tier(figures, 0),
            examples=[example(mention, identity)],
            thread_ids=[thread.id] if thread.id is not None else [],
        )
        if firing is not None and not answered:
            fired.append(firing)
    return fired


def _figures(mention: Mention, identity: Identity, rules: list[str]) -> dict[str, Any]:
    return {
        "urgency": mention.urgency,
        "tier": mention.urgency_tier,
        "followers": identity.followers,
        "complaint": round(mention.complaint, 2) if mention.complaint is not None else None,
        "mention_id": mention.id,
        "rules": rules,
    }


def _escalate(
    episode: Sequence[AlertFiring],
    matched: list[str],
    mention: Mention,
    identity: Identity,
    settings: AlertSettings,
    session: Session,
    now: datetime,
) -> AlertFiring | None:
    """A new revision of the episode's firing for the first rule `mention` matched, when the mention's tier is
    `settings.escalate_tier` or above and above every tier the episode was told at; else None."""
    tier = tier_rank(mention.urgency_tier)
    if tier < tier_rank(settings.escalate_tier):
        return None
    told = max((tier_rank(told_tier(f, r)) for f in episode for r in range(f.revision + 1)), default=-1)
    if tier <= told:
        return None
    firing = next((f for f in episode if set(matched) & set(f.figures.get("rules", []))), None)
    if firing is None:
        return None
    why = rule_matches_reason(firing.rule, mention, identity, settings)
    title, reason = _describe(mention, identity, why)
    figures = {**firing.figures, **_figures(mention, identity, list(firing.figures.get("rules", [])))}
    figures["mention_id"] = firing.figures.get("mention_id")  # what the alert is about: its first mention
    update_firing(
        firing,
        session=session,
        now=now,
        title=title,
        reason=reason,
        figures=with_tier(figures, firing.revision + 1),
        examples=[example(mention, identity), *firing.examples][:3],
    )
    return firing


def rule_matches_reason(rule_name: str, mention: Mention, identity: Identity, settings: AlertSettings) -> str:
    """The phrase of `rule_name` for `mention`, or the mention's tier when the rule no longer says."""
    rule = next((r for r in settings.effective_rules() if r.name == rule_name), None)
    why = rule_matches(rule, mention, identity, None) if rule is not None else None
    return why or f"{(mention.urgency_tier or '').capitalize()} {_kind(mention)}"


def _run_key(mention: Mention, thread: Thread) -> str:
    """What one per-mention alert is about: a customer's unanswered run in a thread (from their first message
    nobody answered), so three angry posts in a row alert once and a new complaint after an answer alerts again."""
    if thread.awaiting_since is None or thread.id is None:
        return f"mention:{mention.id}"
    return episode_key(thread.id, thread.awaiting_since)


def rule_matches(
    rule: AlertRule, mention: Mention, identity: Identity, customer: Customer | None
) -> str | None:
    """Why `rule` fires on `mention` (a phrase for the alert's sentence), or None if it does not."""
    if isinstance(rule, TierRule):
        tier = mention.urgency_tier or ""
        if TIER_ORDER.get(tier, -1) >= TIER_ORDER[rule.min_tier]:
            return f"{tier.capitalize()} {_kind(mention)}"
        return None
    if isinstance(rule, VipRule):
        if customer is not None and customer.tier in rule.customer_tiers:
            return f"{_kind(mention).capitalize()} from a {customer.tier.upper()} customer"
        if rule.min_followers and identity.followers >= rule.min_followers:
            return f"{_kind(mention).capitalize()} from a big account"
        return None
    if isinstance(rule, TermsRule):
        post = Post(
            text=mention.text,
            author_username=identity.handle,
            lang=mention.language,
        )
        if _query(rule.query).matches(post):
            return f"{_kind(mention).capitalize()} matching {one_line(rule.query, 80)}"
        return None
    if isinstance(rule, NegativeReachRule):
        if (mention.sentiment or "") == "negative" and identity.followers >= rule.min_followers:
            return f"Negative {_kind(mention)} from a big account"
        return None
    return None


@lru_cache(maxsize=256)
def _query(text: str) -> Query:
    return compile_query(text)


def _kind(mention: Mention) -> str:
    return "complaint" if (mention.complaint or 0) >= COMPLAINT_THRESHOLD else "mention"


def _describe(mention: Mention, identity: Identity, why: str) -> tuple[str, str]:
    network = network_name(mention.network)
    who = f"@{identity.handle}" if identity.handle else identity.display_name or identity.native_user_id
    about = f" about {mention.brand}" if mention.brand else ""
    reason = (
        f"{why}{about} on {network} from {one_line(who, 100)} "
        f"({plural(identity.followers, 'follower')}): urgency {mention.urgency} ({mention.urgency_tier})."
    )
    title = f"{why}{about} on {network} from {one_line(who, 100)}"
    return title, reason


def _by_id(model: type[_Row], ids: Iterable[int | None], *, session: Session) -> dict[int, _Row]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    id_column = col(model.id)  # type: ignore[attr-defined]
    return {row.id: row for row in session.exec(select(model).where(id_column.in_(wanted))).all()}  # type: ignore[attr-defined]
