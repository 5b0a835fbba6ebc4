"""Reddit's thread context (listener/context.py): the comments a mention answers, up to its submission, by
`/api/info?id=<fullname>` (what praw's `comment.parent()` asks), one call per post.

Reddit keeps a deleted post where it was, `[deleted]` by `[deleted]` (a removed one says `[removed]`), and
answers nothing for an id it does not have: either way the walk ends there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from listener.config import RedditSettings
from listener.context import Gone
from listener.reddit_client import RedditClient, source_error
from listener.reddit_normalise import ErrorBody, Malformed, RedditBrands, identify, parse_page, to_mention
from listener.source import ConnectionLost, Fatal, Refused, SourceContext, budget_wait
from store.incoming import NewMention

# As the listing sources: keep a call or two of the app's budget for the others before pausing.
BUDGET_RESERVE = 2
_GONE = {"[deleted]", "[removed]"}


class RedditContext:
    """One Reddit source's context lookups: a praw client (and token) of its own, for the fetcher's thread."""

    def __init__(self, settings: RedditSettings, brands: RedditBrands) -> None:
        self.settings = settings
        self.brands = brands
        self._client: RedditClient | None = None

    def client(self) -> RedditClient:
        if self._client is None or self._client.aborted:
            try:
                self._client = RedditClient(self.settings)
            except ValueError as exc:
                raise Fatal(str(exc)) from None
        return self._client

    def ancestors(self, ctx: SourceContext, mention: NewMention) -> Iterator[NewMention]:
        parent = mention.reply_to_native_id
        while parent is not None:
            child = self._info(ctx, parent)
            try:
                item = identify(child, parent[:2])
                post = to_mention(item, self.brands, brand=mention.brand)
            except Malformed as exc:
                raise Gone(parent, f"Reddit's {parent} could not be read ({exc.reason})") from None
            if post is None:  # not with a brand given; the type says it may be
                return
            yield post
            parent = post.reply_to_native_id

    def _info(self, ctx: SourceContext, fullname: str) -> dict[str, Any]:
        client = self.client()
        budget_wait(
            ctx,
            client.last_headers,
            remaining="x-ratelimit-remaining",
            reset="x-ratelimit-reset",
            reserve=BUDGET_RESERVE,
        )
        try:
            body = client.get("/api/info", {"id": fullname})
        except Exception as exc:
            raise source_error(exc, now=ctx.now(), what="the thread context lookup") from None
        try:
            page = parse_page(body)
        except ErrorBody as exc:
            raise Refused(
                exc.status, f"the thread context lookup answered with an error: {exc.message}"
            ) from None
        except Malformed as exc:
            raise ConnectionLost(
                f"the thread context lookup answered what earful cannot read: {exc.reason}"
            ) from None
        for child in page.children:
            data = child.get("data") if isinstance(child, dict) else None
            if isinstance(data, dict) and data.get("name") == fullname:
                text = data.get("body") if fullname.startswith("t1_") else data.get("selftext")
                if data.get("author") == "[deleted]" and text in _GONE:
                    raise Gone(fullname, f"Reddit's {fullname} was deleted ({text})")
                return child
        raise Gone(fullname, f"Reddit has no {fullname} (deleted, or in a private subreddit)")
