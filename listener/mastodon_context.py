"""Mastodon's thread context (listener/context.py): the statuses above a mention, from
`GET /api/v1/statuses/:id/context` (its `ancestors`, oldest first, every one the account may see).

Finding a reply's conversation root already asks for that list (`Conversations.root_of`): kept here per status
(`Chains`), the walk above that mention costs no second call. A status the account cannot see (deleted,
private, from a blocked or suspended account) is missing from the list: the walk ends there."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mastodon import MastodonError

from listener.context import Gone
from listener.mastodon_normalise import Malformed, decode, parse_status, to_mention
from listener.parsing import raw_bytes
from listener.source import SourceContext
from store.incoming import NewMention

if TYPE_CHECKING:
    from listener.mastodon_source import MastodonSource

# Statuses whose /context answer waits for their fetcher: a few minutes of a busy server's replies.
CHAINS = 2000


class Chains:
    """The /context ancestors of the statuses handled lately, each taken once by the walk above it."""

    def __init__(self, size: int = CHAINS) -> None:
        self.size = size
        self._items: OrderedDict[str, list[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, status_id: str, ancestors: list[Any]) -> None:
        with self._lock:
            self._items[status_id] = ancestors
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def take(self, status_id: str) -> list[Any] | None:
        with self._lock:
            return self._items.pop(status_id, None)


def walk_up(source: MastodonSource, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
    """The statuses above `mention`, nearest first, as mentions for its brand."""
    expected = mention.reply_to_native_id
    if expected is None:
        return
    chain = source.chains.take(mention.native_id)
    if chain is None:
        chain = _context(source, ctx, mention.native_id, expected)
    by_id = {str(item.get("id")): item for item in chain if isinstance(item, dict)}
    while expected is not None:
        status = by_id.get(expected)
        if status is None:
            raise Gone(
                expected, f"Mastodon does not show status {expected} (deleted, or not visible to the account)"
            )
        try:
            parsed = parse_status(status)
            if parsed is None:
                raise Malformed("a boost, not a status of the conversation")
            owner = source.audience.owner(parsed.acct)
            post = to_mention(
                parsed, conversation_id=mention.conversation_id, brand=mention.brand, is_own=bool(owner)
            )
        except Malformed as exc:
            ctx.put_aside(f"context of {mention.native_id}: {exc.reason}", raw_bytes(status))
            raise Gone(expected, f"Mastodon's status {expected} could not be read ({exc.reason})") from None
        yield post
        expected = parsed.reply_to


def _context(source: MastodonSource, ctx: SourceContext, status_id: str, parent: str) -> list[Any]:
    try:
        source.api.status_context(status_id)
    except MastodonError as exc:
        last = source._http.last()
        if last is not None and last.status_code in (403, 404, 410):
            raise Gone(
                parent, f"Mastodon does not show the conversation of {status_id} ({last.status_code})"
            ) from None
        raise source._rest_error(exc, "thread context lookup", now=ctx.now()) from None
    last = source._http.last()
    source.respect_budget(ctx)
    try:
        body = decode(last.content, "the /context answer") if last is not None else {}
    except Malformed as exc:
        raise Gone(parent, f"Mastodon's /context answer could not be read ({exc.reason})") from None
    ancestors = body.get("ancestors") if isinstance(body, dict) else None
    return ancestors if isinstance(ancestors, list) else []
