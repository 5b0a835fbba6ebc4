"""The incident rule: several customers posting near-duplicate complaints within a window (the encoder's
embeddings say which are near-duplicates, see responders.incidents). A new group alerts once; as it grows it
updates that alert instead of raising new ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from responders.alert_rules import IncidentRule
from responders.firing import examples_of, record_firing, update_firing
from responders.incidents import Incident, IncidentItem, find_incidents, match_incident
from responders.safe import one_line
from store.clock import as_utc
from store.models import AlertFiring, Identity, Mention, Thread

# The newest complaints the clustering looks at (bounds the encoder's work on a flood), how long an alerted
# incident is remembered for matching, and how many member ids its firing keeps.
MAX_INCIDENT_ITEMS = 1000
INCIDENT_MEMORY_HOURS = 24
MAX_MEMBERS = 500
# Complaint probability from which a mention counts as a complaint (as in the alerts and the report).
COMPLAINT_THRESHOLD = 0.5

Embed = Callable[[Sequence[str]], np.ndarray]


def incident_firings(
    rule: IncidentRule, session: Session, now: datetime, embed: Embed | None
) -> tuple[list[AlertFiring], list[AlertFiring]]:
    """Near-duplicate complaints from different customers in the window. A new group alerts; a group sharing
    members with an incident already alerted is that incident: it grows quietly, and subscribers get an update
    when more customers joined and `update_minutes` passed since they last heard."""
    if embed is None:
        return [], []
    since = now - timedelta(minutes=rule.window_minutes)
    items = _incident_items(rule, session, since, now)
    incidents = find_incidents(items, embed, similarity=rule.similarity, min_customers=rule.min_customers)
    if not incidents:
        return [], []
    known = {
        f.id: f
        for f in session.exec(
            select(AlertFiring).where(
                AlertFiring.rule == rule.name,
                col(AlertFiring.updated_at) >= now - timedelta(hours=INCIDENT_MEMORY_HOURS),
            )
        )
        if f.id is not None
    }
    members = {key: set(f.figures.get("mention_ids", [])) for key, f in known.items()}
    fired: list[AlertFiring] = []
    updated: list[AlertFiring] = []
    for incident in incidents:
        match = match_incident(incident, members)
        text = one_line(incident.representative.text, 120)
        if match is None:
            firing = record_firing(
                session=session,
                rule=rule.name,
                kind="incident",
                key=f"incident:{incident.earliest.mention_id}",
                title=f"Possible incident: {incident.customers} customers report \u201c{text}\u201d",
                reason=f"New incident: {incident.reason()}.",
                now=now,
                figures={
                    **incident.figures(),
                    "customer_keys": list(incident.customer_keys),
                    "told_customers": incident.customers,
                    "notified_at": now.isoformat(),
                },
                examples=examples_of(_examples_first(incident), session=session),
                thread_ids=incident.thread_ids,
            )
            if firing is not None:
                fired.append(firing)
                members[firing.id or -1] = set(incident.mention_ids)
            continue
        firing = known[match]
        ids = list(dict.fromkeys([*firing.figures.get("mention_ids", []), *incident.mention_ids]))[
            -MAX_MEMBERS:
        ]
        # Customers are counted over the incident's life, not only those still inside the window.
        keys = list(dict.fromkeys([*firing.figures.get("customer_keys", []), *incident.customer_keys]))
        told = int(firing.figures.get("told_customers", 0))
        last_told = _when(firing.figures.get("notified_at")) or as_utc(firing.created_at)
        tell = len(keys) > told and now - last_told >= timedelta(minutes=rule.update_minutes)
        figures = {
            **incident.figures(),
            "customers": len(keys),
            "customer_keys": keys[-MAX_MEMBERS:],
            "mention_ids": ids,
            "told_customers": len(keys) if tell else told,
            "notified_at": now.isoformat() if tell else last_told.isoformat(),
        }
        threads = list(dict.fromkeys([*firing.thread_ids, *incident.thread_ids]))
        update_firing(
            firing,
            session=session,
            now=now,
            title=f"Incident growing: {figures['customers']} customers report \u201c{text}\u201d"
            if tell
            else None,
            reason=f"The incident goes on: {incident.reason()}." if tell else None,
            figures=figures,
            examples=examples_of(_examples_first(incident), session=session) if tell else None,
            thread_ids=threads,
            notify=tell,
        )
        members[match] = set(ids)
        if tell:
            updated.append(firing)
    return fired, updated


def _incident_items(
    rule: IncidentRule, session: Session, since: datetime, now: datetime
) -> list[IncidentItem]:
    """Negative or complaining customer mentions in the window (a "same here" reply is rarely called a
    complaint, but it is part of the incident), the newest MAX_INCIDENT_ITEMS of them."""
    query = (
        sa_select(
            *(
                col(c)
                for c in (Mention.id, Mention.thread_id, Mention.text, Mention.created_at, Mention.brand,
                          Mention.network, Thread.customer_id, Identity.native_user_id)
            )
        )
        .join(Thread, col(Thread.id) == col(Mention.thread_id))
        .join(Identity, col(Identity.id) == col(Mention.identity_id))
        .where(
            col(Mention.created_at) >= since,
            col(Mention.created_at) <= now,
            col(Mention.is_own).is_(False),
            or_(col(Mention.sentiment) == "negative", col(Mention.complaint) >= COMPLAINT_THRESHOLD),
        )
        .order_by(col(Mention.created_at).desc())
        .limit(MAX_INCIDENT_ITEMS)
    )  # fmt: skip
    if rule.brands:
        query = query.where(col(Mention.brand).in_(rule.brands))
    if rule.networks:
        query = query.where(col(Mention.network).in_(rule.networks))
    return [
        IncidentItem(
            mention_id=mention_id,
            thread_id=thread_id,
            customer_key=f"customer:{customer_id}" if customer_id else f"{network}:{user}",
            text=text,
            created_at=as_utc(created_at),
        )
        for mention_id, thread_id, text, created_at, _brand, network, customer_id, user in session.execute(
            query
        )
        if mention_id is not None
    ]


def _examples_first(incident: Incident) -> list[int]:
    """The representative complaint, then the latest ones from other customers."""
    chosen = [incident.representative.mention_id]
    seen = {incident.representative.customer_key}
    for item in reversed(incident.members):
        if item.customer_key not in seen:
            chosen.append(item.mention_id)
            seen.add(item.customer_key)
    return chosen


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None
