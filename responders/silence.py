"""A source that has gone silent: no new mention for longer than configured. Silence is how a broken collector
looks from the outside (revoked token, changed API, a filter that matches nothing), so it is an alert."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from responders.alerts import PENDING, AlertSettings
from store.clock import as_utc, utcnow
from store.models import AlertEvent

RULE_PREFIX = "source-silent:"


def silent_sources(
    last_events: dict[str, datetime | None], *, since: datetime, settings: AlertSettings, now: datetime
) -> dict[str, datetime]:
    """Source -> the moment it went quiet, for sources quiet for longer than the limit. A source that has had no
    event since this process started counts from the start."""
    if settings.source_silent_minutes <= 0:
        return {}
    limit = timedelta(minutes=settings.source_silent_minutes)
    quiet: dict[str, datetime] = {}
    for source, last in last_events.items():
        quiet_since = max(as_utc(last), since) if last is not None else since
        if now - quiet_since >= limit:
            quiet[source] = quiet_since
    return quiet


def queue_silence_alert(
    source: str, network: str, quiet_since: datetime, state: str, *, session: Session, settings: AlertSettings
) -> list[AlertEvent]:
    """One alert per subscriber per silence: nothing new if this silence was already reported. Does not commit."""
    rule = (RULE_PREFIX + source)[:100]
    already = session.exec(
        select(AlertEvent.id)
        .where(AlertEvent.rule == rule, col(AlertEvent.created_at) >= quiet_since)
        .limit(1)
    ).first()
    if already is not None or not settings.subscribers:
        return []
    minutes = (utcnow() - quiet_since).total_seconds() / 60
    title = f"earful: {network} source {source} silent for {minutes:.0f} min"
    body = (
        f"No new mention has arrived from {source} since {quiet_since:%Y-%m-%d %H:%M} UTC "
        f"({minutes:.0f} minutes; the limit is {settings.source_silent_minutes:g}). Its state: {state}.\n"
        "A revoked token, a changed API or a filter that no longer matches all look like this.\n"
        "See: earful status"
    )
    events = [
        AlertEvent(rule=rule, subscriber=s.name, title=title, body=body, status=PENDING)
        for s in settings.subscribers
    ]
    session.add_all(events)
    return events
