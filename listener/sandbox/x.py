"""A local fake X API v2 on 127.0.0.1 that tweepy talks to as if it were api.twitter.com.

It replays the bundled customer-support conversations as new tweets (fresh snowflake ids, created now),
streams the ones matching the client's rules, answers rules, recent search, tweet lookup, user lookup, each
account's mentions timeline and replies, and can be scripted from a test: push a tweet, drop or stall every
stream, refuse the next connects, send a malformed line or an error frame, set a rate-limit budget.

Sandbox convenience: a reply posted through `POST /2/tweets` is authored by the brand the conversation is with
(the brand that wrote the tweet replied to or that it mentions, looking up the thread), unless `account` is
given, in which case every post is authored by that account, as X does for the authenticated user.

Run it in an existing loop (`await sandbox.start()`) or in its own thread (`XSandboxThread(...).start()`).
Every scripting method is safe to call from any thread."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from listener.config import XSettings
from listener.sandbox import x_http, x_users
from listener.sandbox.replay import DATA, Directory, SandboxTweet, SandboxUser, Snowflakes, from_ms
from listener.sandbox.replaying import ReplayingServer
from listener.sandbox.running import SandboxThread
from listener.sandbox.x_streams import KEEPALIVE, StreamHub
from listener.sandbox.x_wire import OPERATIONAL_DISCONNECT, RateLimits, auth_kind, problem
from listener.terms import Query, compile_query


@dataclass(frozen=True)
class Rule:
    id: str
    value: str
    tag: str | None
    query: Query

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "value": self.value, **({"tag": self.tag} if self.tag is not None else {})}


class XSandbox(ReplayingServer[SandboxTweet]):
    """The fake X. `pace`: replayed tweets per second; `preposted`: corpus tweets already posted at start (a
    first backfill finds them); `keepalive`: seconds between blank stream lines; `replay=False`: no automatic
    replay (tests call `advance()`); `paused`: replay waits for `resume()`; `limit`: replay only the first N
    corpus tweets; `brands`: extra handles that count as brand accounts; `account`: author of every post made
    through the API; `repeat`: start the corpus over when it ends; `holds`: (customer, brand) seconds a replayed
    reply waits after its parent (see Replay); `history_spacing`: seconds between preposted tweets, dated back
    from now (0: all posted at start)."""

    replay_task_name = "x-sandbox-replay"

    def __init__(
        self,
        *,
        pace: float = 1.0,
        preposted: int = 0,
        keepalive: float = 20.0,
        replay: bool = True,
        paused: bool = False,
        limit: int | None = None,
        brands: Sequence[str] = (),
        account: str | None = None,
        repeat: bool = False,
        holds: tuple[float, float] = (0.0, 0.0),
        history_spacing: float = 0.0,
        data: Path = DATA,
    ) -> None:
        super().__init__(
            what="tweets",
            pace=pace,
            preposted=preposted,
            replay=replay,
            paused=paused,
            repeat=repeat,
            history_spacing=history_spacing,
            directory=Directory(tuple(brands)),
            limit=limit,
            holds=holds,
            data=data,
        )
        self.keepalive_seconds = keepalive
        self.account = account
        self.ids = Snowflakes()
        self.limits = RateLimits()
        self._rules: list[Rule] = []
        self._posted: list[SandboxTweet] = []
        self._by_id: dict[str, SandboxTweet] = {}
        self._deleted: set[str] = set()
        self._replies: list[SandboxTweet] = []
        self._requests: list[dict[str, Any]] = []
        self._delivered: list[str] = []
        # Everyone an id may be asked about: authors of what was posted and every account looked up.
        self._users: dict[str, SandboxUser] = {}
        self.streams = StreamHub(keepalive, self._delivered.append)
        self._connect_failures: list[int] = []
        self._call_failures: dict[str, list[int]] = {}
        self._misbehaviour: dict[str, list[Misbehaviour]] = {}

    # -- lifecycle -------------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._misbehaving(), x_http.request_log(self)])
        app.add_routes(
            [web.get("/2/tweets/search/stream", self._stream), *x_http.routes(self), *x_users.routes(self)]
        )
        return app

    async def _close_streams(self) -> None:
        self.streams.drop_all()

    # -- what tests read -------------------------------------------------------------------------------------

    @property
    def posted(self) -> list[SandboxTweet]:
        """Every tweet that exists on this fake X, oldest first."""
        return [tweet for tweet in self._posted if tweet.id not in self._deleted]

    @property
    def replies(self) -> list[SandboxTweet]:
        """Tweets created through `POST /2/tweets`."""
        return list(self._replies)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """One entry per request: method, path, query, auth kind ('bearer', 'oauth1' or None), status."""
        return [dict(entry) for entry in self._requests]

    @property
    def delivered(self) -> list[str]:
        """Ids of the tweets actually written to a stream connection, in order."""
        return list(self._delivered)

    @property
    def rules(self) -> list[dict[str, str]]:
        return [rule.as_json() for rule in self._rules]

    @property
    def connections(self) -> int:
        return len(self.streams)

    def tweet(self, tweet_id: str) -> SandboxTweet | None:
        return None if tweet_id in self._deleted else self._by_id.get(tweet_id)

    def matching(self, query: str) -> list[SandboxTweet]:
        """The posted tweets a query matches, oldest first (what a complete collector must end up with)."""
        compiled = compile_query(query)
        return [tweet for tweet in self.posted if compiled.matches(tweet)]

    # -- scripting (any thread) ------------------------------------------------------------------------------

    def push(
        self,
        tweet: str | Mapping[str, Any],
        *,
        author: str = "sandbox_customer",
        in_reply_to: str | None = None,
        lang: str | None = "en",
    ) -> SandboxTweet:
        """Post a tweet now. `tweet` is its text, or a dict with text and optionally author (a handle),
        in_reply_to_tweet_id and lang. A known brand handle as author posts as that brand."""
        if isinstance(tweet, Mapping):
            text = str(tweet["text"])
            author = str(tweet.get("author", author))
            in_reply_to = tweet.get("in_reply_to_tweet_id", in_reply_to)
            lang = tweet.get("lang", lang)
        else:
            text = tweet
        return self._call(self._push, text, author, in_reply_to, lang)

    def delete(self, tweet_id: str) -> None:
        """The tweet is deleted: lookups answer X's not-found error for it, search no longer finds it, and
        replies to it keep pointing at it, as on X."""
        self._call(self._deleted.add, tweet_id)

    def keepalive(self) -> None:
        self._call(self.streams.broadcast, KEEPALIVE)

    def send_raw(self, line: bytes | str) -> None:
        """Write one line as is to every open stream (a `\\r\\n` is added if missing)."""
        data = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
        self._call(self.streams.broadcast, data if data.endswith(b"\r\n") else data + b"\r\n")

    def error_frame(self, *, disconnect: bool = True) -> None:
        """An operational-disconnect errors line; then, like X, the stream is closed cleanly."""
        self._call(self.streams.broadcast, json.dumps(OPERATIONAL_DISCONNECT).encode() + b"\r\n")
        if disconnect:
            self._call(self.streams.close_all)

    def drop(self) -> None:
        """Cut every open stream connection at once, mid-stream, without a clean end."""
        self._call(self.streams.drop_all)

    def stall(self, seconds: float) -> None:
        """Send nothing at all, not even keep-alives, for this long (tweets queue up meanwhile)."""
        self._call(self.streams.stall, seconds)

    def swallow(self, every: int = 1) -> None:
        """Keep the stream open with its keep-alives but leave out every `every`th tweet (1: every one, 0:
        stream them all again); the tweets still exist and search finds them. `streams.swallowed` lists them."""
        self._call(self.streams.swallow, every)

    def misbehave(
        self, family: str, status: int, *, count: int = 1, html: bool = False, retry_after: str | None = None
    ) -> None:
        """Answer the next `count` calls of `family` ('stream' for the stream's connect, or a REST family:
        'search', 'mentions', 'users', 'rules'...) with `status`: a proxy's HTML error page when `html` (a
        CDN answers so, even under 200), else X's problem JSON. `retry_after` (seconds or an HTTP date) is sent
        as Retry-After, and a 429 then carries it instead of X's rate-limit headers."""
        answer = Misbehaviour(status, html, retry_after)
        self._call(lambda: self._misbehaviour.setdefault(family, []).extend([answer] * count))

    def fail_next_connect(self, status: int, count: int = 1) -> None:
        """Answer the next `count` stream connects with this HTTP status (count=0 clears)."""
        self._call(self._set_failures, status, count)

    def fail_connects(self, *statuses: int) -> None:
        """Answer the next stream connects with these HTTP statuses, in order (after any already scripted)."""
        self._call(self._connect_failures.extend, statuses)

    def fail_next_calls(self, family: str, *statuses: int) -> None:
        """Answer the next calls of a REST family ('search', 'mentions', 'users', 'rules'...) with these HTTP
        statuses, in order: 503 as X's overload page, 429 with the family's rate-limit headers."""
        self._call(lambda: self._call_failures.setdefault(family, []).extend(statuses))

    def set_rate_limit(
        self, family: str, remaining: int, *, limit: int | None = None, window: float | None = None
    ) -> None:
        """Set what is left of a family's budget ('search', 'rules', 'tweets', 'lookup', 'mentions',
        'users'); 0 provokes a 429. `limit` and `window` (seconds) give the family a budget of its own from
        now on, e.g. 3 calls a second to watch a client wait for the reset."""
        self._call(lambda: self.limits.set_remaining(family, remaining, limit=limit, window=window))

    def user(self, username: str) -> SandboxUser | None:
        """The account with this handle, if the sandbox knows it (a brand, or someone who posted); from
        then on it can be asked about by id too."""
        user = self.directory.get(username)
        if user is not None:
            self._users.setdefault(user.id, user)
        return user

    def user_by_id(self, user_id: str) -> SandboxUser | None:
        return self._users.get(user_id)

    # -- internals (loop thread only) ------------------------------------------------------------------------

    def new_tweet(
        self, text: str, author_handle: str, in_reply_to: SandboxTweet | None, lang: str | None, origin: str
    ) -> SandboxTweet:
        new_id, ms = self.ids.next()
        author = self.directory.get(author_handle) or self.directory.person(author_handle)
        return SandboxTweet(
            id=str(new_id),
            text=text,
            author=author,
            created_at=from_ms(ms),
            conversation_id=in_reply_to.conversation_id if in_reply_to else str(new_id),
            in_reply_to_id=in_reply_to.id if in_reply_to else None,
            in_reply_to_user=in_reply_to.author if in_reply_to else None,
            lang=lang,
            origin=origin,
        )

    def _push(self, text: str, author: str, in_reply_to: str | None, lang: str | None) -> SandboxTweet:
        parent = self._by_id.get(str(in_reply_to)) if in_reply_to else None
        if in_reply_to and parent is None:
            raise KeyError(f"no tweet {in_reply_to} to reply to")
        tweet = self.new_tweet(text, author, parent, lang, "push")
        self.emit(tweet)
        return tweet

    def _emit_next(self, now: float | None = None, at_ms: int | None = None) -> SandboxTweet | None:
        tweet = self._next_from_corpus(self.ids, now, at_ms)
        if tweet is not None:
            self.emit(tweet)
        return tweet

    def emit(self, tweet: SandboxTweet) -> None:
        """The tweet now exists: searchable, and streamed to every connection if it matches a rule."""
        self._posted.append(tweet)
        self._by_id[tweet.id] = tweet
        self._users.setdefault(tweet.author.id, tweet.author)
        if tweet.origin == "reply":
            self._replies.append(tweet)
        matched = [rule for rule in self._rules if rule.query.matches(tweet)]
        if not matched:
            return
        rules = [{"id": rule.id, **({"tag": rule.tag} if rule.tag is not None else {})} for rule in matched]
        self.streams.send_tweet(tweet, rules)

    def set_rules(self, rules: list[Rule]) -> None:
        self._rules = rules

    def next_call_failure(self, family: str) -> int | None:
        """Loop thread: the scripted status the next call of this family gets, if any."""
        queued = self._call_failures.get(family)
        return queued.pop(0) if queued else None

    def _set_failures(self, status: int, count: int) -> None:
        self._connect_failures = [status] * count

    def _misbehaving(self) -> Any:
        @web.middleware
        async def middleware(request: web.Request, handler: x_http.Handler) -> web.StreamResponse:
            family = "stream" if request.path == "/2/tweets/search/stream" else x_http._family(request)
            queued = self._misbehaviour.get(family or "")
            if not queued:
                return await handler(request)
            # Outside the request log's middleware: it would add X's own rate-limit headers to the answer.
            answer = queued.pop(0)
            self._requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": dict(request.query),
                    "auth": auth_kind(request.headers.get("Authorization")),
                    "status": answer.status,
                }
            )
            return answer.response()

        return middleware

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        refusal = x_http.check_auth(request, ("bearer",))
        if refusal is not None:
            return refusal
        if self._connect_failures:
            return x_http.connect_refusal(self._connect_failures.pop(0))
        return await self.streams.serve(request)


_ERROR_PAGE = """<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title></head>
<body><h1>Bad Gateway</h1><p>The upstream server is temporarily unavailable. Please try again later.</p>
</body></html>
"""


@dataclass(frozen=True)
class Misbehaviour:
    """A scripted answer that is not what X sends: an HTML page, or an error with a Retry-After."""

    status: int
    html: bool = False
    retry_after: str | None = None

    def response(self) -> web.Response:
        headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        if self.html:
            return web.Response(
                text=_ERROR_PAGE, status=self.status, content_type="text/html", headers=headers
            )
        phrase = HTTPStatus(self.status).phrase
        response = x_http._json(problem(phrase, phrase, self.status), self.status)
        response.headers.update(headers)
        return response


def sandbox_settings(base_url: str, **overrides: Any) -> XSettings:
    """Settings for a collector or sender talking to this sandbox: it takes any well-formed credentials."""
    secret = SecretStr("sandbox")
    return XSettings(
        base_url=base_url,
        bearer_token=secret,
        consumer_key=secret,
        consumer_secret=secret,
        access_token=secret,
        access_token_secret=secret,
        **overrides,
    )


class XSandboxThread(SandboxThread[XSandbox]):
    """The X sandbox in a background thread with its own event loop, for sync tests and `earful demo`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(XSandbox(**options), name="x-sandbox")
