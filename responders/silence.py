"""A network that has gone silent: none of its sources brought a new mention for longer than a `silent` rule
allows, and its stream is not live. Silence is how a broken collector looks from the outside (revoked token,
changed API, a server that stopped answering), so it is an alert.

Silence is judged per network, not per source: a network's sources cover it together. A live stream covers its
network whether or not the brands are talked about (it is connected and reconciled: listener/reconcile.py), and a
fallback standing by while the stream carries everything (Bluesky's search beside Jetstream) is idle by design,
never silent. So a network is silent when no source of it delivered within the limit and no stream of it is live.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from responders.alert_rules import SilentRule
from responders.alerts import AlertSettings
from responders.firing import record_firing
from responders.report_model import network_name, plural
from responders.safe import one_line
from store.clock import as_utc, utcnow
from store.health import HealthRow
from store.models import AlertEvent

# Health states (listener.health.SourceState values) that say a network is covered, and those of a source that
# takes no part: it stands by for a live stream, or was turned off.
LIVE_STATES = frozenset({"streaming"})
STANDBY_STATES = frozenset({"standby"})
OFF_STATES = frozenset({"disabled", "stopped"})


@dataclass(frozen=True)
class NetworkSilence:
    network: str
    quiet_since: datetime
    # The network's sources as they stand, for the alert to say what each is doing.
    sources: tuple[HealthRow, ...]

    def states(self) -> str:
        return "; ".join(
            f"{row.source} {row.state}" + (f" ({one_line(row.detail, 120)})" if row.detail else "")
            for row in self.sources
        )


def silent_rules(settings: AlertSettings) -> list[SilentRule]:
    return [r for r in settings.effective_rules() if isinstance(r, SilentRule) and r.enabled]


def silent_sources(
    last_events: dict[str, datetime | None], *, since: datetime, settings: AlertSettings, now: datetime
) -> dict[str, datetime]:
    """Key -> the moment it went quiet, for keys (sources, networks) quiet for longer than the shortest silent
    rule allows. One that has had no event since this process started counts from the start."""
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


def silent_networks(
    rows: Iterable[HealthRow], *, since: datetime, settings: AlertSettings, now: datetime
) -> list[NetworkSilence]:
    """The networks silent past the shortest silent rule: no source delivered since `quiet_since` (the newest
    delivery of any of its sources, or `since`, when this process started) and no stream of it live."""
    by_network: dict[str, list[HealthRow]] = {}
    for row in rows:
        if row.state not in OFF_STATES:
            by_network.setdefault(row.network, []).append(row)
    candidates: dict[str, datetime | None] = {}
    for network, sources in by_network.items():
        if any(r.state in LIVE_STATES for r in sources):
            continue
        if all(r.state in STANDBY_STATES for r in sources):
            continue  # standing by for a stream reported by another process: nothing here is silent
        delivered = [as_utc(r.last_event_at) for r in sources if r.last_event_at is not None]
        candidates[network] = max(delivered, default=None)
    quiet = silent_sources(candidates, since=since, settings=settings, now=now)
    return [
        NetworkSilence(network, at, tuple(sorted(by_network[network], key=lambda r: r.source)))
        for network, at in sorted(quiet.items())
    ]


def queue_network_silence(
    silence: NetworkSilence, *, session: Session, settings: AlertSettings, now: datetime | None = None
) -> list[AlertEvent]:
    """One firing per rule per silence of a network, routed to the subscribers who want it. Does not commit."""
    return queue_silence_alert(
        silence.network,
        silence.network,
        silence.quiet_since,
        silence.states(),
        session=session,
        settings=settings,
        now=now,
        sources=[r.source for r in silence.sources],
    )


def queue_silence_alert(
    scope: str,
    network: str,
    quiet_since: datetime,
    state: str,
    *,
    session: Session,
    settings: AlertSettings,
    now: datetime | None = None,
    sources: Sequence[str] = (),
) -> list[AlertEvent]:
    """One firing per rule per silence of `scope` (a network, or one source), keyed by the scope and when it
    went quiet, routed to the subscribers who want it; nothing new if this silence was already reported. Does
    not commit."""
    from responders.subscribers import route_firing

    moment = as_utc(now) if now is not None else utcnow()
    minutes = (moment - as_utc(quiet_since)).total_seconds() / 60
    whole = scope == network
    named = network_name(network) if whole else f"{network_name(network)} source {scope}"
    listed = f" ({plural(len(sources), 'source')})" if whole and sources else ""
    events: list[AlertEvent] = []
    for rule in silent_rules(settings):
        if minutes < rule.minutes or not rule.applies(None, network):
            continue
        firing = record_firing(
            session=session,
            rule=rule.name,
            kind="silent",
            key=f"silent:{scope}:{as_utc(quiet_since).isoformat(timespec='seconds')}",
            network=network,
            title=f"earful: {named} silent for {minutes:.0f} min",
            reason=(
                f"No new mention has arrived from {named}{listed} since {as_utc(quiet_since):%Y-%m-%d %H:%M} "
                f"UTC ({minutes:.0f} minutes; the limit is {rule.minutes:g}), and no stream of it is live; "
                f"{'its sources' if whole else 'its state'}: {state}. A revoked token, a changed API or a "
                "server that stopped answering all look like this."
            ),
            now=moment,
            figures={"silent_minutes": round(minutes), "source": scope, "sources": list(sources)},
        )
        if firing is not None:
            events.extend(route_firing(firing, session=session, settings=settings, now=moment))
    return events
