"""X sources that ask rather than listen: each brand's recent search (polling mode, for apps without stream
access) and the mentions timeline of each brand account. Both fetch everything since their stored cursor,
oldest first, then wait `poll_seconds`; the cursor moves only over mentions handed over, so a failed poll, a
restart or a rate-limit pause resumes exactly where the last complete one ended."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from listener.config import BrandSettings, XSettings
from listener.health import SourceState
from listener.source import BackoffPolicy, ConnectionLost, Fatal, SourceContext
from listener.x_api import HTTP_TIMEOUT, Budgets, rest_client, short, sliced_wait, source_error
from listener.x_backfill import Gap, Stopped, fetch_gap, fetch_mentions, since_id
from listener.x_context import XContext
from listener.x_filtered import cursor_key, report_gap
from listener.x_normalise import NETWORK, Brands
from store.incoming import NewMention

log = logging.getLogger(__name__)


def mentions_key(handle: str) -> str:
    return f"x:mentions:{handle}"


class _Poller:
    network = NETWORK
    what = "poll"
    family = "search"

    def __init__(
        self,
        settings: XSettings,
        brand: BrandSettings,
        brands: Brands,
        *,
        name: str,
        policy: BackoffPolicy,
        budgets: Budgets,
    ) -> None:
        self.settings = settings
        self.brand = brand
        self.brands = brands
        self.name = name
        self.policy = policy
        self.budgets = budgets
        # A few poll intervals, plus a request that takes its whole timeout.
        self.stall_after = 3 * settings.poll_seconds + HTTP_TIMEOUT
        self.client = rest_client(settings, budgets)
        self.context_limit = settings.thread_context
        self._context = XContext(settings, brands, budgets, margin=min(1.0, policy.rate_limit_start))
        self.polls = 0
        self._ended = threading.Event()
        self._shown: SourceState | None = None

    def session(self, ctx: SourceContext) -> None:
        self._ended = ended = threading.Event()
        self._shown = None
        try:
            while not ctx.stopping.is_set() and not ended.is_set():
                # The first poll of every session catches up from the cursor: a backfill, as for a stream.
                self._show(ctx, SourceState.BACKFILLING if self._shown is None else None)
                delivered = self._poll(ctx)
                self.polls += 1
                ctx.connected()
                self._show(ctx, SourceState.POLLING, f"every {self.settings.poll_seconds:g} s")
                if delivered:
                    log.debug("%s: %d new", self.name, delivered)
                if sliced_wait(ctx, self.settings.poll_seconds, slice_seconds=self._slice(), ended=ended):
                    break
        except Stopped:
            pass
        except Exception as exc:
            error = source_error(exc, f"{self.what} failed")
            if error is None:
                raise
            raise error from None
        if ended.is_set() and not ctx.stopping.is_set():
            raise ConnectionLost(f"{self.what} was cut")

    def abort(self) -> None:
        self._ended.set()

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        """What the mention replies to, up the conversation (listener/x_context.py)."""
        return self._context.ancestors(ctx, mention)

    def _poll(self, ctx: SourceContext) -> int:
        gap = self._fetch(ctx, ctx.cursor())
        for mention in gap.mentions:
            if self._ended.is_set():
                raise Stopped
            ctx.deliver(mention, cursor=mention.native_id)
        return len(gap.mentions)

    def _fetch(self, ctx: SourceContext, cursor: str | None) -> Gap:
        raise NotImplementedError

    def _common(self, ctx: SourceContext, cursor: str | None, family: str) -> dict[str, Any]:
        return {
            "since": since_id(cursor, self.settings.backfill_rewind_seconds),
            "source": self.name,
            "max_pages": self.settings.gap_max_pages if cursor else self.settings.backfill_max_pages,
            "stop": self._ended,
            "quarantine": lambda _source, reason, raw: ctx.put_aside(reason, raw),
            "before_call": lambda: self._pause(ctx, family),
        }

    def _pause(self, ctx: SourceContext, family: str) -> None:
        if self.budgets.exhausted(family, ctx.now()) is None:
            return
        self._shown = SourceState.RATE_LIMITED
        margin = min(1.0, self.policy.rate_limit_start)

        def wait(seconds: float) -> bool:
            return sliced_wait(ctx, seconds, slice_seconds=self._slice(), ended=self._ended)

        if self.budgets.pause(ctx, family, wait=wait, margin=margin):
            raise Stopped

    def _slice(self) -> float:
        return max(0.001, min(self.settings.poll_seconds, self.stall_after / 3))

    def _show(self, ctx: SourceContext, state: SourceState | None, detail: str = "") -> None:
        """Report a state once, not after every poll (each report is a log line and a health row)."""
        if state is not None and state != self._shown:
            self._shown = state
            ctx.state(state, detail)


class XSearchPoller(_Poller):
    """Polling mode: one brand's recent search since its cursor (`x:search:<brand>`, as the stream's backfill)."""

    what = "search"

    def __init__(
        self,
        settings: XSettings,
        brand: BrandSettings,
        brands: Brands,
        *,
        policy: BackoffPolicy,
        budgets: Budgets,
    ) -> None:
        super().__init__(settings, brand, brands, name=cursor_key(brand.name), policy=policy, budgets=budgets)

    def _fetch(self, ctx: SourceContext, cursor: str | None) -> Gap:
        gap = fetch_gap(self.client, self.brand, self.brands, **self._common(ctx, cursor, "search"))
        report_gap(ctx, self.brand.name, too_old=gap.too_old, truncated=gap.truncated and cursor is not None)
        return gap


class XMentionsPoller(_Poller):
    """The mentions timeline of one of a brand's X accounts (`x:mentions:<handle>`)."""

    what = "mentions"

    def __init__(
        self,
        settings: XSettings,
        brand: BrandSettings,
        handle: str,
        brands: Brands,
        *,
        policy: BackoffPolicy,
        budgets: Budgets,
    ) -> None:
        super().__init__(settings, brand, brands, name=mentions_key(handle), policy=policy, budgets=budgets)
        self.handle = handle
        self.user_id: str | None = None

    def _fetch(self, ctx: SourceContext, cursor: str | None) -> Gap:
        user_id = self._resolve(ctx)
        gap = fetch_mentions(
            self.client,
            user_id,
            self.handle,
            self.brand,
            self.brands,
            **self._common(ctx, cursor, "mentions"),
        )
        report_gap(
            ctx,
            f"@{self.handle}",
            too_old=False,
            truncated=gap.truncated and cursor is not None,
            what="mentions",
        )
        return gap

    def _resolve(self, ctx: SourceContext) -> str:
        """The account's id, asked once: X's mentions timeline takes an id, configuration has a handle."""
        if self.user_id is not None:
            return self.user_id
        self._pause(ctx, "users")
        body = self.client.get_user(username=self.handle)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not str(data.get("id") or "").isdigit():
            errors = body.get("errors") if isinstance(body, dict) else None
            detail = (
                short(errors[0].get("detail", errors[0]))
                if isinstance(errors, list) and errors
                else "no user"
            )
            raise Fatal(
                f"X has no account @{self.handle} ({detail}); check accounts.x of brand {self.brand.name!r}"
            )
        self.user_id = str(data["id"])
        return self.user_id
