"""A local fake Mastodon server on 127.0.0.1 that Mastodon.py talks to unmodified.

It replays the bundled customer-support conversations as Mastodon statuses: each corpus brand is a local
account, customers are `user<id>@example.social`, and every status of a conversation with a brand carries that
brand's hashtag (the brand handle, lower-cased), so `/api/v1/streaming/hashtag?tag=delta` carries Delta's
conversations, both sides. A status that mentions the token's account (`account`) also becomes a `mention`
notification on `/api/v1/streaming/user/notification`, `/api/v1/streaming/user` and `/api/v1/notifications`.
As on a real server, the `user` stream also carries the account's home timeline, which holds its own statuses
(`update` events): a reply posted through the API comes back on it, hashtag or not; `/api/v1/accounts/:id/statuses`
lists them too.

Scriptable from a test like the X sandbox: push, advance, pause/resume, keepalive, drop, stall, refuse the next
connects, malformed events, error frames, the rate-limit budget. Every scripting method is safe from any
thread. Run it in an existing loop (`await sandbox.start()`) or in its own thread (`MastodonSandboxThread`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from listener.config import MastodonSettings
from listener.sandbox import mastodon_http
from listener.sandbox.mastodon_replay import (
    context,
    conversation_brand,
    conversations_of,
    mentioned_users,
    reskin,
)
from listener.sandbox.mastodon_streams import Framing, StreamHub
from listener.sandbox.mastodon_wire import (
    HEARTBEAT,
    REMOTE_DOMAIN,
    MastodonIds,
    Notification,
    RateLimit,
    Status,
    hashtags,
    render_status,
    sse_event,
)
from listener.sandbox.replay import DATA, Directory, SandboxTweet, SandboxUser, from_ms
from listener.sandbox.replaying import ReplayingServer
from listener.sandbox.running import SandboxThread


class MastodonSandbox(ReplayingServer[Status]):
    """The fake Mastodon. `pace`: replayed statuses per second; `preposted`: statuses already posted at start
    (a first backfill finds them); `keepalive`: seconds between `:thump` heartbeats; `replay=False`: no
    automatic replay (tests call `advance()`); `paused`: the replay waits for `resume()`; `only`: replay just
    the conversations with these brands; `limit`: just the first N corpus rows (after `only`); `brands`: extra
    local brand accounts; `account`: the token's account (posts through the API, receives the notifications);
    `valid_token`: when set, every other token gets 401; `history_spacing`: seconds between preposted statuses."""

    replay_task_name = "mastodon-sandbox-replay"

    def __init__(
        self,
        *,
        pace: float = 1.0,
        preposted: int = 0,
        keepalive: float = 15.0,
        replay: bool = True,
        paused: bool = False,
        only: Sequence[str] = (),
        limit: int | None = None,
        brands: Sequence[str] = (),
        account: str | None = None,
        valid_token: str | None = None,
        repeat: bool = False,
        holds: tuple[float, float] = (0.0, 0.0),
        history_spacing: float = 0.0,
        data: Path = DATA,
    ) -> None:
        super().__init__(
            what="statuses",
            pace=pace,
            preposted=preposted,
            replay=replay,
            paused=paused,
            repeat=repeat,
            history_spacing=history_spacing,
            directory=Directory(tuple(brands) + tuple(only)),
            limit=limit,
            holds=holds,
            data=data,
            select=(lambda rows: conversations_of(rows, only)) if only else None,
        )
        self.valid_token = valid_token
        self.account_user: SandboxUser = self.directory.brand(
            account or (tuple(only) + tuple(brands) + ("AmazonHelp",))[0]
        )
        self.ids = MastodonIds()
        self._notification_ids = MastodonIds()
        self.limits = RateLimit()
        self._statuses: list[Status] = []
        self._by_id: dict[str, Status] = {}
        self._brand_of: dict[str, str] = {}
        self._notifications: list[Notification] = []
        self._replies: list[Status] = []
        self._idempotent: dict[str, Status] = {}
        self._requests: list[dict[str, Any]] = []
        self._delivered: list[str] = []
        self.streams = StreamHub(keepalive, self._delivered.append)
        self.framing = Framing()
        self._connect_failures: list[tuple[int, float, str | None]] = []

    # -- lifecycle -------------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[mastodon_http.request_log(self)])
        app.add_routes(mastodon_http.routes(self))
        return app

    async def _close_streams(self) -> None:
        self.streams.drop_all()

    # -- what tests read -------------------------------------------------------------------------------------

    @property
    def statuses(self) -> list[Status]:
        """Every status on this server, oldest first."""
        return list(self._statuses)

    posted = statuses

    @property
    def replies(self) -> list[Status]:
        """Statuses created through `POST /api/v1/statuses` (once per idempotency key)."""
        return list(self._replies)

    @property
    def notifications(self) -> list[Notification]:
        return list(self._notifications)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """One entry per request: method, path, query, auth (a token was sent), idempotency_key, status."""
        return [dict(entry) for entry in self._requests]

    @property
    def delivered(self) -> list[str]:
        """Ids of the statuses and notifications actually written to a stream connection, in order."""
        return list(self._delivered)

    @property
    def connections(self) -> int:
        """Stream connections open now."""
        return len(self.streams)

    @property
    def connects(self) -> int:
        """Stream connections accepted since start."""
        return self.streams.opened

    def status(self, status_id: str) -> Status | None:
        return self._by_id.get(status_id)

    def by_account(self, account_id: str) -> list[Status]:
        """An account's statuses, oldest first (`/api/v1/accounts/:id/statuses`)."""
        return [s for s in self._statuses if s.author.id == account_id]

    def tagged(self, tag: str) -> list[Status]:
        """The statuses a complete collector of `#tag` must end up with, oldest first."""
        return [s for s in self._statuses if tag.lower() in s.tags]

    def render(self, status: Status) -> dict[str, Any]:
        return render_status(status, self.base_url, self.resolve)

    def resolve(self, handle: str) -> SandboxUser | None:
        name, _, domain = handle.partition("@")
        if domain and domain.casefold() != REMOTE_DOMAIN:
            return self.directory.get(handle)
        return self.directory.get(name)

    def context(self, status: Status) -> tuple[list[Status], list[Status]]:
        """(ancestors, descendants) of a status, as `/api/v1/statuses/:id/context` lists them."""
        return context(status, self._by_id, self._statuses)

    # -- scripting (any thread) ------------------------------------------------------------------------------

    def push(
        self,
        text: str,
        *,
        author: str = "sandbox_customer",
        in_reply_to: str | None = None,
        lang: str | None = "en",
        fields: Mapping[str, Any] | None = None,
    ) -> Status:
        """Post a status now, as `author` (a brand handle posts as that brand; `name@domain` is remote).
        `fields` are written over the status's JSON wherever it is served (stream, timelines, context): what a
        remote server federated, e.g. a `created_at` no date can hold."""
        return self._call(self._push, text, author, in_reply_to, lang, fields)

    def keepalive(self) -> None:
        self._call(self.streams.broadcast, HEARTBEAT)

    def send_raw(self, data: bytes | str) -> None:
        """Write bytes as they are to every open stream (a blank line is added to end the event if missing)."""
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        self._call(self.streams.broadcast, raw if raw.endswith(b"\n\n") else raw.rstrip(b"\n") + b"\n\n")

    def error_frame(
        self, message: str = "Error while streaming, please reconnect", *, disconnect: bool = False
    ) -> None:
        """An `event: error` frame (not one of Mastodon's events); with `disconnect`, then a clean close."""
        self._call(self.streams.broadcast, sse_event("error", {"error": message}))
        if disconnect:
            self._call(self.streams.close_all)

    def delete(self, status_id: str) -> None:
        """The status is deleted: a `delete` event on every stream, and from then on the server answers 404
        for it and leaves it out of timelines and of its replies' /context ancestors, as Mastodon does."""
        self._call(self._delete, status_id)

    def _delete(self, status_id: str) -> None:
        status = self._by_id.pop(status_id, None)
        if status is not None:
            self._statuses.remove(status)
        self.streams.broadcast(sse_event("delete", status_id))

    def drop(self) -> None:
        """Cut every open stream connection at once, mid-stream, without a clean end."""
        self._call(self.streams.drop_all)

    def close_streams(self) -> None:
        """End every open stream cleanly (a complete response), as a server restart does."""
        self._call(self.streams.close_all)

    def stall(self, seconds: float) -> None:
        """Send nothing at all, not even heartbeats, for this long (events queue up meanwhile)."""
        self._call(self.streams.stall, seconds)

    def set_framing(self, framing: Framing) -> None:
        """Write the events of every stream this way from now on (`Framing()`: Mastodon's own again)."""
        self._call(setattr, self, "framing", framing)

    def swallow(self, every: int = 1) -> None:
        """Keep every stream open with its heartbeats but leave out every `every`th event written (1: every
        one, 0: send them all again); the statuses still exist and the REST timelines list them.
        `streams.swallowed` lists what was left out."""
        self._call(self.streams.swallow, every)

    def fail_next_connect(
        self, status: int, count: int = 1, *, reset_in: float = 0.5, retry_after: str | None = None
    ) -> None:
        """Answer the next `count` stream connects with this HTTP status, after any failures already queued
        (count=0 clears the queue). A 429 carries an X-RateLimit-Reset `reset_in` seconds ahead; `retry_after`
        (seconds or an HTTP date) is sent as a Retry-After header, as a 503 from a proxy says when to return."""
        self._call(self._set_failures, status, count, reset_in, retry_after)

    def set_rate_limit(
        self, remaining: int, *, reset_in: float | None = None, limit: int | None = None
    ) -> None:
        """What is left of the REST budget, and when it resets; 0 answers the next REST call with 429."""
        if limit is not None:
            self.limits.limit = limit
        self.limits.set(remaining, reset_in)

    # -- internals (loop thread only) ------------------------------------------------------------------------

    def _set_failures(self, status: int, count: int, reset_in: float, retry_after: str | None = None) -> None:
        if count <= 0:
            self._connect_failures.clear()
        self._connect_failures += [(status, reset_in, retry_after)] * count

    def next_connect_failure(self) -> web.Response | None:
        if not self._connect_failures:
            return None
        status, reset_in, retry_after = self._connect_failures.pop(0)
        response = mastodon_http.connect_refusal(status, reset_in)
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response

    def new_status(
        self, text: str, author: SandboxUser, parent: Status | None, lang: str | None, origin: str
    ) -> Status:
        new_id, ms = self.ids.next()
        return Status(
            id=str(new_id),
            text=text,
            author=author,
            created_at=from_ms(ms),
            root_id=parent.root_id if parent else str(new_id),
            in_reply_to_id=parent.id if parent else None,
            in_reply_to_account=parent.author if parent else None,
            lang=lang,
            tags=tuple(hashtags(text)),
            mentions=mentioned_users(text, self.resolve),
            origin=origin,
        )

    def _push(
        self,
        text: str,
        author: str,
        in_reply_to: str | None,
        lang: str | None,
        fields: Mapping[str, Any] | None = None,
    ) -> Status:
        parent = self._by_id.get(str(in_reply_to)) if in_reply_to else None
        if in_reply_to and parent is None:
            raise KeyError(f"no status {in_reply_to} to reply to")
        user = self.directory.get(author) or self.directory.person(author)
        status = replace(self.new_status(text, user, parent, lang, "push"), fields=fields)
        self.emit(status)
        return status

    def post_status(
        self,
        text: str,
        *,
        in_reply_to_id: str | None,
        lang: str | None,
        idempotency_key: str | None,
        visibility: str = "public",
    ) -> Status:
        if idempotency_key and idempotency_key in self._idempotent:
            return self._idempotent[idempotency_key]
        status = replace(
            self.new_status(text, self.account_user, self._by_id.get(in_reply_to_id or ""), lang, "reply"),
            visibility=visibility,
        )
        if idempotency_key:
            self._idempotent[idempotency_key] = status
        self.emit(status)
        return status

    def _emit_next(self, now: float | None = None, at_ms: int | None = None) -> Status | None:
        tweet = self._next_from_corpus(self.ids, now, at_ms)
        if tweet is None:
            return None
        status = self._reskin(tweet)
        self.emit(status)
        return status

    def _reskin(self, tweet: SandboxTweet) -> Status:
        parent = self._by_id.get(tweet.in_reply_to_id or "")
        brand = conversation_brand(tweet, self._brand_of.get(parent.id) if parent else None, self.directory)
        if brand is not None:
            self._brand_of[tweet.id] = brand
        return reskin(tweet, brand, self.resolve)

    def emit(self, status: Status) -> None:
        """The status now exists: in timelines and context, streamed to its hashtags' connections, and a
        notification when it mentions the token's account."""
        self._statuses.append(status)
        self._by_id[status.id] = status
        if status.origin == "reply":
            self._replies.append(status)
        if self.streams:
            event = self.framing.write(sse_event("update", self.render(status)))
            for tag in status.tags:
                self.streams.send("hashtag", tag, event, status.id)
            if status.author == self.account_user:
                # The account's home timeline holds its own statuses: Mastodon streams them to its `user` stream.
                self.streams.send("user", None, event, status.id)
        if self.account_user in status.mentions and status.author != self.account_user:
            new_id, ms = self._notification_ids.next()
            notification = Notification(str(new_id), status, from_ms(ms))
            self._notifications.append(notification)
            if self.streams:
                payload = notification.render(self.base_url, self.resolve)
                event = self.framing.write(sse_event("notification", payload))
                self.streams.send("notification", None, event, status.id)
                self.streams.send("user", None, event, status.id)


def sandbox_settings(base_url: str, **overrides: Any) -> MastodonSettings:
    """Settings for a collector or sender talking to this sandbox: any token works."""
    values: dict[str, Any] = {
        "enabled": True,
        "base_url": base_url,
        "access_token": SecretStr("sandbox-token"),
    }
    values.update(overrides)
    return MastodonSettings(**values)


class MastodonSandboxThread(SandboxThread[MastodonSandbox]):
    """The Mastodon sandbox in a background thread with its own event loop, for sync tests and `earful demo`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(MastodonSandbox(**options), name="mastodon-sandbox")
