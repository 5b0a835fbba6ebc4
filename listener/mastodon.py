"""Mastodon: hashtag streams and the account's mentions, as sources the supervisor runs.

Each source is one SSE stream opened with Mastodon.py (`/api/v1/streaming/hashtag?tag=` or
`/api/v1/streaming/user`), with its own cursor (`mastodon:tag:<tag>`, `mastodon:notifications`): the newest
status id (notification id) stored with nothing missing before it.

The account's source reads the `user` stream, not `user/notification`: besides the notifications it carries the
account's home timeline, which holds the account's own statuses. That is how a reply the brand posted (from the
desk, or from any Mastodon app) comes back into its thread when it carries none of the streamed hashtags. Other
accounts' statuses on that timeline are left to the hashtag sources. Each backfill also reads the newest page
of the account's own statuses.

Each session opens the stream, then backfills over REST from the cursor, delivering stream statuses without
a cursor until the backfill has caught up (listener/mastodon_source.py says why that loses nothing).

Statuses are kept when a brand's terms match (`BrandMatcher`, the same query language on every network), or
when a brand's own account wrote them (`is_own`: the brand's side of a thread). Mentions of the token's account
are always kept, for the brand that owns the account. `delete` events are ignored: a mention once heard stays
on the desk (what was said is part of the record), and edits (`status.update`) keep the first version.
"""

from __future__ import annotations

from typing import Any

from mastodon import MastodonError

from listener.config import BrandSettings, MastodonSettings
from listener.mastodon_normalise import (
    Audience,
    Conversations,
    Malformed,
    hashtags_in_terms,
    id_order,
    parse_id,
)
from listener.mastodon_sender import MastodonSender, SendError
from listener.mastodon_source import MASTODON_POLICY, PAGE, MastodonSource, body_list
from listener.mastodon_stream import SSEReader
from listener.parsing import ascii_digits, raw_bytes
from listener.source import Source, SourceContext
from store.errors import UserError

__all__ = [
    "MASTODON_POLICY",
    "HashtagSource",
    "MastodonSender",
    "NotificationSource",
    "SendError",
    "build_sources",
    "hashtags_in_terms",
]


def build_sources(
    settings: MastodonSettings,
    brands: list[BrandSettings],
    *,
    conversations: Conversations | None = None,
) -> list[Source]:
    """One source per hashtag (settings' plus each listening brand's `#hashtags`) and one for the account's
    mentions. Nothing when Mastodon is disabled or no brand listens on it."""
    if not settings.enabled:
        return []
    if settings.access_token is None or not settings.access_token.get_secret_value():
        raise UserError(
            "Mastodon needs mastodon.access_token (an access token of the brand's account with read scope; "
            "write too, to reply), or set mastodon.enabled = false"
        )
    audience = Audience(brands, settings.base_url)
    if not audience.brands:
        return []
    shared = conversations or Conversations()
    tags = list(settings.hashtags)
    for brand in audience.brands:
        tags += [tag for tag in hashtags_in_terms(brand.terms) if tag not in tags]
    sources: list[Source] = [HashtagSource(settings, audience, shared, tag) for tag in dict.fromkeys(tags)]
    if settings.notifications:
        sources.append(NotificationSource(settings, audience, shared))
    return sources


class HashtagSource(MastodonSource):
    what = "hashtag stream"

    def __init__(
        self, settings: MastodonSettings, audience: Audience, conversations: Conversations, tag: str
    ):
        self.tag = tag.lstrip("#").lower()
        super().__init__(settings, audience, conversations, f"mastodon:tag:{self.tag}")
        self.what = f"#{self.tag} stream"

    def _open(self, reader: SSEReader) -> Any:
        return self.api.stream_hashtag(self.tag, reader, run_async=True, timeout=self.settings.read_timeout)

    def _fetch(self, **bounds: str | None) -> list[dict[str, Any]]:
        self.api.timeline_hashtag(self.tag, limit=PAGE, **bounds)
        return body_list(self._http)

    def _item(self, item: dict[str, Any]) -> tuple[str, Any] | None:
        status_id = item.get("id") if isinstance(item, dict) else None
        if status_id is None:
            raise Malformed("a status without an id")
        return str(status_id), item

    def _first_since(self, cursor: str) -> str:
        if not ascii_digits(cursor) or int(cursor) < 1 << 56:
            return cursor  # not a Mastodon time-ordered id: start right at it
        rewind = int(self.settings.backfill_rewind_seconds * 1000) << 16
        return str(max(0, int(cursor) - rewind))


class NotificationSource(MastodonSource):
    what = "notification stream"
    event = "notification"
    also = frozenset({"update"})  # the home timeline: the account's own statuses among them

    def __init__(self, settings: MastodonSettings, audience: Audience, conversations: Conversations):
        super().__init__(settings, audience, conversations, "mastodon:notifications")
        self.account: str | None = None
        self.account_id: str | None = None

    def _prepare(self, ctx: SourceContext) -> None:
        # Whose mentions these are: the brand owning the token's account (or the first brand listening).
        try:
            self.api.account_verify_credentials()
        except MastodonError as exc:
            raise self._rest_error(exc, "account check") from None
        last = self._http.last()
        body = last.json() if last is not None else {}
        self.account = str(body.get("acct") or "") if isinstance(body, dict) else ""
        self.account_id = str(body.get("id") or "") or None if isinstance(body, dict) else None
        self.fallback_brand = self.audience.owner(self.account) or self.audience.brands[0].name

    def _open(self, reader: SSEReader) -> Any:
        return self.api.stream_user(reader, run_async=True, timeout=self.settings.read_timeout)

    def _backfill(self, ctx: SourceContext) -> int:
        count = super()._backfill(ctx)
        if self.account_id and self.audience.owner(self.account or "") and not ctx.stopping.is_set():
            # The account's newest statuses: a reply posted while the stream was down. Never with a cursor (the
            # cursor is the notifications'); a status already stored changes nothing.
            try:
                self.api.account_statuses(self.account_id, limit=PAGE)
            except MastodonError as exc:
                raise self._rest_error(exc, "account's statuses") from None
            for item in sorted(body_list(self._http), key=lambda item: id_order(str(item.get("id")))):
                count += self.handle(ctx, item, raw_bytes(item), backfill=False)
        return count

    def _fetch(self, **bounds: str | None) -> list[dict[str, Any]]:
        self.api.notifications(types=["mention"], limit=PAGE, **bounds)
        return body_list(self._http)

    def _item(self, item: dict[str, Any]) -> tuple[str, Any] | None:
        if isinstance(item, dict) and "type" not in item and isinstance(item.get("account"), dict):
            # A status of the home timeline: only the account's own are this source's.
            if self.account_id is None or str(item["account"].get("id")) != self.account_id:
                return None
            return parse_id(item.get("id"), "status id"), item
        if not isinstance(item, dict) or item.get("id") is None:
            raise Malformed("a notification without an id")
        notification = parse_id(item["id"], "notification id")
        if item.get("type") != "mention":
            return None
        if not isinstance(item.get("status"), dict):
            raise Malformed(f"mention notification {notification} has no status")
        return notification, item["status"]
