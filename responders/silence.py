"""A source that has gone silent: no new mention for longer than a `silent` rule allows. Silence is how a broken
collector looks from the outside (revoked token, changed API, a filter that matches nothing), so it is an alert."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from responders.alert_rules import SilentRule
from responders.alerts import AlertSettings
from responders.firing import record_firing
from responders.report_model import network_name
from store.clock import as_utc, utcnow
from store.models import AlertEvent


def silent_rules(settings: AlertSettings) -> list[SilentRule]:
    return [r for r in settings.effective_rules() if isinstance(r, SilentRule) and r.enabled]


def silent_sources(
    last_events: dict[str, datetime | None], *, since: datetime, settings: AlertSettings, now: datetime
) -> dict[str, datetime]:
    """Source -> the moment it went quiet, for sources quiet for longer than the shortest silent rule allows.
    A source that has had no event since this process started counts from the start."""
    rules = silent_rules(settings)
    if not rules:
        return {}
    limit = timedelta(minutes=min(r.minutes for r in rules))
    quiet: dict[str, datetime] = {}
    for source, last in last_events.items():
        quiet_since = max(as_utc(last), since) if last is not None else since
        if now - quiet_since >= limit:
            quiet[source] = quiet_since
    return quiet


def queue_silence_alert(
    source: str,
    network: str,
    quiet_since: datetime,
    state: str,
    *,
    session: Session,
    settings: AlertSettings,
    now: datetime | None = None,
) -> list[AlertEvent]:
    """One firing per rule per silence (keyed by the source and when it went quiet), routed to the subscribers
    who want it; nothing new if this silence was already reported. Does not commit."""
    from responders.subscribers import route_firing

    moment = as_utc(now) if now is not None else utcnow()
    minutes = (moment - as_utc(quiet_since)).total_seconds() / 60
    events: list[AlertEvent] = []
    for rule in silent_rules(settings):
        if minutes < rule.minutes or not rule.applies(None, network):
            continue
        firing = record_firing(
            session=session,
            rule=rule.name,
            kind="silent",
            key=f"silent:{source}:{as_utc(quiet_since).isoformat(timespec='seconds')}",
            network=network,
            title=f"earful: {network_name(network)} source {source} silent for {minutes:.0f} min",
            reason=(
                f"No new mention has arrived from {source} since {as_utc(quiet_since):%Y-%m-%d %H:%M} UTC "
                f"({minutes:.0f} minutes; the limit is {rule.minutes:g}); its state: {state}. A revoked token, "
                "a changed API or a filter that no longer matches all look like this."
            ),
            now=moment,
            figures={"silent_minutes": round(minutes), "source": source},
        )
        if firing is not None:
            events.extend(route_firing(firing, session=session, settings=settings, now=moment))
    return events
