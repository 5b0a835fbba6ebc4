"""X: the sources the supervisor runs, and the reply sender.

- `x:stream`: the filtered stream of every brand's rules, backfilled from each brand's cursor after every
  (re)connect (`listener.x_filtered` explains the zero-loss rule).
- `x:search:<brand>` (polling mode, `x.mode = "poll"`): recent search since the same cursor the stream's
  backfill keeps, every `x.poll_seconds`, for apps without stream access.
- `x:mentions:<handle>`: the mentions timeline of each brand account, every `x.poll_seconds`.

Every REST call checks its endpoint's rate-limit budget first and waits for the reset rather than spending
itself on a 429. The backoff is X's documented policy, as tweepy implements it (`BackoffPolicy()`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from listener.config import BrandSettings, XSettings
from listener.health import HealthCallback, Reporter, SourceState
from listener.source import BackoffPolicy, Source
from listener.supervisor import Supervisor
from listener.x_api import Budgets, token
from listener.x_filtered import STREAM_SOURCE, StreamStats, XStreamSource, cursor_key
from listener.x_normalise import NETWORK, Brands
from listener.x_polling import XMentionsPoller, XSearchPoller, mentions_key
from listener.x_rules import wanted_rules
from listener.x_sender import SendError, XSender
from store.errors import UserError
from store.incoming import NewMention

log = logging.getLogger(__name__)

__all__ = [
    "STREAM_SOURCE",
    "SendError",
    "XCollector",
    "XMentionsPoller",
    "XSearchPoller",
    "XSender",
    "XStreamSource",
    "build_sources",
    "cursor_key",
    "mentions_key",
]


def build_sources(
    settings: XSettings, brands: list[BrandSettings], *, policy: BackoffPolicy | None = None
) -> list[Source]:
    """The X sources for the brands that listen on X: the stream (or a search poller per brand in polling
    mode) and a mentions poller per brand account. Raises ValueError for a configuration that cannot work."""
    brands = [brand for brand in brands if brand.listens_on(NETWORK)]
    if not settings.enabled or not brands:
        return []
    token(settings)  # no bearer token: say so now, not at the first connect
    policy = policy or BackoffPolicy()
    index = Brands.of(brands)
    budgets = Budgets()  # X counts calls per app and endpoint: every source spends the same budgets
    sources: list[Source] = []
    if settings.mode == "stream":
        sources.append(XStreamSource(settings, brands, policy=policy, budgets=budgets))
    else:
        wanted_rules(brands)  # search uses the rules as queries: an invalid term fails at start here too
        sources += [XSearchPoller(settings, brand, index, policy=policy, budgets=budgets) for brand in brands]
    if settings.mentions:
        owner: dict[str, str] = {}
        for brand in brands:
            for handle in brand.handles(NETWORK):
                other = owner.setdefault(handle.casefold(), brand.name)
                if other != brand.name:
                    raise UserError(
                        f"the X account @{handle} is listed by brands {other!r} and {brand.name!r}; "
                        "give each account to one brand"
                    )
                if not any(s.name.casefold() == mentions_key(handle).casefold() for s in sources):
                    sources.append(
                        XMentionsPoller(settings, brand, handle, index, policy=policy, budgets=budgets)
                    )
    return sources


class XCollector:
    """The X sources under a supervisor of their own, for callers that start X alone (the listener's test
    fixtures). The pipeline runs every network's `build_sources` under one shared `Supervisor`."""

    def __init__(
        self,
        settings: XSettings,
        brands: list[BrandSettings],
        *,
        sink: Callable[[NewMention], None],
        put_aside: Callable[[str, str, str, bytes], None],
        get_cursor: Callable[[str], str | None],
        on_health: HealthCallback | None = None,
        backoff: BackoffPolicy | None = None,
        watchdog_every: float = 1.0,
    ) -> None:
        token(settings)
        self.settings = settings
        self._report = Reporter(NETWORK, on_health)
        self.sources = build_sources(settings, brands, policy=backoff)
        self.supervisor = Supervisor(
            self.sources,
            sink=sink,
            put_aside=put_aside,
            get_cursor=get_cursor,
            on_health=on_health,
            watchdog_every=watchdog_every,
        )

    @property
    def stream(self) -> XStreamSource | None:
        return next((s for s in self.sources if isinstance(s, XStreamSource)), None)

    @property
    def stats(self) -> StreamStats:
        stream = self.stream
        return stream.stats if stream is not None else StreamStats()

    def run(self) -> None:
        """Collect until `stop()`. Blocks (own thread)."""
        if not self.sources:
            self._report(STREAM_SOURCE, SourceState.DISABLED)
            return
        self.supervisor.run()

    def stop(self) -> None:
        self.supervisor.stop()
