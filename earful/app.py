"""The app factory: one place that builds the desk and the TUI, used by the CLI, the demo and the tests."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from earful.pipeline import Pipeline
from earful.settings import Settings
from listener.health import HealthEvent, SourceState
from responders.customers import DEFAULT_TIERS, CustomerBook
from responders.desk import Desk
from responders.outbox import Outbox, Sender
from responders.safe import one_line
from responders.templates import load_saved_replies
from store import Store
from store.engine import describe_unavailable
from store.errors import UserError
from store.models import Thread
from tui.app import EarfulApp

log = logging.getLogger(__name__)


def make_senders(settings: Settings) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    if settings.x.enabled and settings.x.has_user_auth():
        from listener.x import XSender

        senders["x"] = XSender(settings.x)
    if settings.mastodon.enabled and settings.mastodon.access_token is not None:
        from listener.mastodon import MastodonSender

        senders["mastodon"] = MastodonSender(settings.mastodon)
    if settings.bluesky.enabled and settings.bluesky.handle and settings.bluesky.app_password is not None:
        from listener.bluesky import BlueskySender

        senders["bluesky"] = BlueskySender(settings.bluesky)
    if settings.reddit.enabled and settings.reddit.username and settings.reddit.password is not None:
        from listener.reddit import RedditSender

        senders["reddit"] = RedditSender(settings.reddit)
    return senders


def own_handles(settings: Settings) -> Callable[[Thread], str | None]:
    """The brand's first listed account on a thread's network: where the outbox looks for an earlier reply
    only when the sender cannot say which account it signed in as (replies are posted as the login)."""

    def lookup(thread: Thread) -> str | None:
        for brand in settings.brands:
            if brand.name == thread.brand:
                accounts = brand.accounts.get(thread.network, [])
                return accounts[0] if accounts else None
        return None

    return lookup


def make_desk(
    settings: Settings, *, store: Store | None = None, senders: dict[str, Sender] | None = None
) -> Desk:
    if store is None:
        store = Store(settings.database.url)
        store.migrate()
    outbox = Outbox(
        store,
        senders if senders is not None else make_senders(settings),
        own_handle=own_handles(settings),
    )
    return Desk(
        store=store,
        responder=settings.desk.responder,
        outbox=outbox,
        saved_replies=load_saved_replies(settings.replies_path()),
        leads=settings.desk.leads,
    )


def make_tui(
    desk: Desk,
    *,
    settings: Settings | None = None,
    status: Callable[[], str] | None = None,
    open_thread: int | None = None,
) -> EarfulApp:
    return EarfulApp(
        desk,
        refresh_seconds=settings.desk.refresh_seconds if settings else 1.0,
        keymap=settings.desk.keys if settings else None,
        status=status,
        open_thread=open_thread,
        customers=CustomerBook(
            desk.store,
            desk.responder,
            # The tiers a responder may give a customer are the ones urgency knows how to weigh.
            tiers=list(settings.nlp.urgency.customer_tiers) if settings else DEFAULT_TIERS,
        ),
    )


class PipelineThread:
    """The pipeline on its own event loop in a background thread, while the desk owns the main one."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="earful-pipeline", daemon=True)

    def start(self) -> PipelineThread:
        self._thread.start()
        self._started.wait(10)
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # surfaced to the caller; a pipeline crash must be visible on the desk
            log.exception("the pipeline stopped")
            self.error = exc

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        await self.pipeline.run(self._stop)

    def stop(self, timeout: float = 30) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def status(self) -> str:
        stats = self.pipeline.stats
        if self.error is not None:
            return f"pipeline stopped: {self.error}"
        parts = [
            f"{e.network} {e.state}"
            + (f" ({e.detail})" if e.state in ("error", "retrying") and e.detail else "")
            for e in _worst_per_network(self.pipeline.health.values())
        ]
        if not self.pipeline.ready.is_set():
            parts.append("loading the model…")
        parts.append(f"{stats.stored} stored")
        if stats.alerts_delivered:
            parts.append(f"{stats.alerts_delivered} alerts sent")
        if stats.last_error:
            parts.append(stats.last_error)
        return " · ".join(parts)


# What a network's line on the desk shows when its sources differ: the one that needs a look first.
_SEVERITY = {
    SourceState.ERROR: 0,
    SourceState.RETRYING: 1,
    SourceState.RATE_LIMITED: 2,
    SourceState.WARNING: 3,
    SourceState.STARTING: 4,
    SourceState.BACKFILLING: 5,
    SourceState.CONNECTED: 6,
    SourceState.LIVE: 7,
    SourceState.POLLING: 8,
    SourceState.STOPPED: 9,
    SourceState.DISABLED: 10,
}


def _worst_per_network(events: Iterable[HealthEvent]) -> list[HealthEvent]:
    worst: dict[str, HealthEvent] = {}
    for event in events:
        held = worst.get(event.network)
        if held is None or _SEVERITY.get(event.state, 99) < _SEVERITY.get(held.state, 99):
            worst[event.network] = event
    return sorted(worst.values(), key=lambda e: e.network)


def serve(settings: Settings, *, config: Path | None = None) -> None:
    """Collectors, classifier and alerts against the configured networks, until SIGINT or SIGTERM.

    Alert rules and subscribers follow edits of the configuration and secrets files without a restart."""
    from earful.alerting import ConfigWatcher
    from earful.logs import log_to_stderr
    from earful.settings import config_path, load_settings, secrets_path

    log_to_stderr()
    if not settings.brands:
        raise UserError(
            "no brands configured: add a [[brands]] section to earful.toml (see config/earful.toml)"
        )
    store = Store(settings.database.url)
    store.migrate()
    consume = settings.bus.kind == "memory" or settings.bus.serve_consumes
    watcher = ConfigWatcher(lambda: load_settings(config), [config_path(config), secrets_path()])
    pipeline = Pipeline(settings, store, consume=consume, watcher=watcher)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        outbox = make_desk(settings, store=store).outbox
        retry = asyncio.create_task(_retry_outbox(outbox, settings.pipeline.outbox_retry_seconds, stop))
        try:
            await pipeline.run(stop)
        finally:
            stop.set()
            await retry
            await asyncio.to_thread(_say_what_is_left, outbox)

    asyncio.run(main())


async def _retry_outbox(outbox: Outbox, every: float, stop: asyncio.Event) -> None:
    """Replies left queued (network down) or mid-send (a crash) are settled here, never posted twice.

    Only `stop` ends the loop: any error (the database gone, a bug in one sender) is told in one line, and the
    loop waits `every` seconds and tries again, so a reply queued during or after an outage still goes out."""
    trouble: str | None = None
    while not stop.is_set():
        try:
            await asyncio.to_thread(outbox.flush)
        # The loop outlives every error: it is the one thing that sends what was queued.
        except Exception as exc:
            now = _outbox_trouble(outbox, exc)
            if now != trouble:
                log.warning("outbox: %s; trying again every %gs", now, every)
            trouble = now
        else:
            if trouble is not None:
                log.info("outbox: working again")
            trouble = None
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass


def _outbox_trouble(outbox: Outbox, exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):
        return describe_unavailable(outbox.store.url, exc)
    return one_line(f"{type(exc).__name__}: {exc}", 300)


def _say_what_is_left(outbox: Outbox) -> None:
    """On the way out: whether replies wait to be sent, so stopping never hides one."""
    try:
        left = outbox.left_queued()
    except Exception as exc:  # the database may be the reason we stop
        log.warning(
            "outbox: could not count the replies left to send (%s); queued replies stay queued and go out "
            "when earful serve or a desk runs again",
            _outbox_trouble(outbox, exc),
        )
        return
    if left:
        log.warning(
            "outbox: %d %s still queued; %s out when earful serve or a desk runs again",
            left,
            "reply" if left == 1 else "replies",
            "it goes" if left == 1 else "they go",
        )
