"""The X REST clients every X source uses: pointed at the configured base URL, timed out, and aware of their
rate-limit budgets, with tweepy's exceptions translated into the supervisor's `SourceError`s."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy

from listener.config import XSettings
from listener.health import SourceState
from listener.source import (
    ConnectionLost,
    Fatal,
    RateLimited,
    Refused,
    SourceContext,
    SourceError,
    answer_kind,
    not_the_api,
    retry_after,
)
from listener.transport import TimeoutSession, protect_logs, redirect
from store.errors import UserError

log = logging.getLogger(__name__)

# tweepy's REST calls pass no timeout: a server that never answers would hang a source for good.
HTTP_TIMEOUT = 30.0

# X answers every REST call with its 15-minute budget: these headers, reset in epoch seconds.
LIMIT, REMAINING, RESET = "x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"


def family_of(url: str, method: str = "GET") -> str | None:
    """Which rate-limit budget a request spends; X counts each endpoint separately."""
    path = urlsplit(url).path
    if method == "GET" and (path == "/2/tweets" or path.removeprefix("/2/tweets/").isdigit()):
        return "lookup"
    if path == "/2/tweets/search/recent":
        return "search"
    if path == "/2/tweets/search/stream/rules":
        return "rules"
    if path.startswith("/2/users/by/username/"):
        return "users"
    if path.startswith("/2/users/") and path.endswith("/mentions"):
        return "mentions"
    return None


@dataclass(frozen=True)
class Window:
    limit: int | None
    remaining: int
    reset: float


class Budgets:
    """The newest rate-limit headers each endpoint family answered with, so the next call can wait for the
    reset instead of spending itself on a 429 (X counts 429s against the app too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, Window] = {}

    def record(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        """A requests response hook. A 429 is left out: the caller sees it as `RateLimited` and waits anyway,
        and its headers would otherwise hold later sessions back after the budget came back."""
        request = response.request
        family = family_of(response.url or "", (request.method if request is not None else None) or "GET")
        if family is None or response.status_code == 429:
            return
        headers = response.headers
        try:
            remaining = int(headers[REMAINING])
            reset = float(headers[RESET])
            limit = int(headers[LIMIT]) if LIMIT in headers else None
        except (KeyError, ValueError):
            return
        with self._lock:
            self._windows[family] = Window(limit, remaining, reset)

    def attach(self, client: Any) -> Any:
        client.session.hooks["response"].append(self.record)
        return client

    def exhausted(self, family: str, now: float) -> Window | None:
        """The family's window when no call is left in it and its reset is still ahead."""
        with self._lock:
            window = self._windows.get(family)
        if window is None or window.remaining > 0 or window.reset <= now:
            return None
        return window

    def forget(self, family: str) -> None:
        with self._lock:
            self._windows.pop(family, None)

    def pause(
        self,
        ctx: SourceContext,
        family: str,
        *,
        wait: Callable[[float], bool],
        margin: float,
    ) -> bool:
        """Before a call: when the family's budget is spent, show RATE_LIMITED until its reset and wait
        (`wait(seconds)` returns True when the session should end instead). True when it should."""
        window = self.exhausted(family, ctx.now())
        if window is None:
            return False
        until = window.reset + margin
        per = f" of {window.limit}" if window.limit is not None else ""
        ctx.state(
            SourceState.RATE_LIMITED,
            f"X {family} budget spent (0{per} calls left); waiting for its reset",
            until=until,
        )
        ended = wait(max(0.0, until - ctx.now()))
        self.forget(family)
        return ended


def token(settings: XSettings) -> str:
    if settings.bearer_token is None or not settings.bearer_token.get_secret_value():
        raise UserError(
            "the X sources need x.bearer_token (app-only auth for the stream, search and mentions); "
            "set it in earful.toml or EARFUL_X__BEARER_TOKEN"
        )
    secret = settings.bearer_token.get_secret_value()
    protect_logs(secret)
    return secret


class NotTheAPI(requests.RequestException):
    """A REST answer that is not X's JSON: an HTML error page from a proxy or a CDN, often under HTTP 200."""

    def __init__(self, status: int, kind: str, retry_at: float | None) -> None:
        super().__init__(f"X answered {kind} (HTTP {status}), not the API")
        self.status = status
        self.kind = kind
        self.retry_at = retry_at


def check_answer(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    """A requests response hook: a success or server-error answer that is not JSON raises `NotTheAPI` before
    tweepy takes its parse failure for a network error (which would reconnect at once, for ever)."""
    status = response.status_code
    if not (200 <= status < 300 or status >= 500) or status == 204:
        return
    kind = answer_kind(response.headers.get("Content-Type"), response.content[:200])
    if kind is not None:
        raise NotTheAPI(status, kind, retry_after(response.headers, time.time()))


def _rest_session() -> TimeoutSession:
    session = TimeoutSession(HTTP_TIMEOUT)
    session.hooks["response"].append(check_answer)
    return session


def rest_client(settings: XSettings, budgets: Budgets) -> tweepy.Client:
    client = tweepy.Client(bearer_token=token(settings), return_type=dict, wait_on_rate_limit=False)
    client.session = _rest_session()
    return budgets.attach(redirect(client, settings.base_url))


def rules_client(settings: XSettings, budgets: Budgets) -> tweepy.StreamingClient:
    client = tweepy.StreamingClient(token(settings), return_type=dict, wait_on_rate_limit=False)
    client.session = _rest_session()
    return budgets.attach(redirect(client, settings.base_url))


def source_error(exc: BaseException, what: str) -> SourceError | None:
    """The supervisor's view of a failed REST call (None: not an HTTP or network failure, a bug of ours)."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, NotTheAPI):
        return not_the_api(f"{what}: X", exc.status, exc.kind, until=exc.retry_at)
    if isinstance(exc, tweepy.TooManyRequests):
        headers = getattr(exc.response, "headers", None)
        reset = exc.reset_time if exc.reset_time is not None else retry_after(headers, time.time())
        return RateLimited(f"{what}: X answered 429 Too Many Requests", until=reset)
    if isinstance(exc, tweepy.HTTPException):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        detail = describe(exc)
        if status == 401:
            return Fatal(f"{what}: X refused the bearer token (401 {detail}); check x.bearer_token")
        if status == 403:
            return Fatal(
                f"{what}: X forbids it (403 {detail}); the app's access level may not include this endpoint"
            )
        if status >= 500:
            until = retry_after(getattr(exc.response, "headers", None), time.time())
            return Refused(status, f"{what}: {detail}", until=until)
        return Fatal(f"{what}: X refused the request ({status} {detail})")
    if isinstance(exc, requests.RequestException):
        return ConnectionLost(f"{what}: X could not be reached ({type(exc).__name__}: {network_reason(exc)})")
    return None


def network_reason(exc: BaseException) -> str:
    """The root of a requests network error in a few words ("Connection refused"), not urllib3's retry
    wrapper with the whole URL and its query."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # MaxRetryError -> NewConnectionError, ReadTimeoutError...
    if isinstance(reason, BaseException):
        text = str(reason)
        # "HTTPConnection(host='h', port=1): Failed to establish a new connection: [Errno 111] Connection refused"
        if "): " in text:
            text = text.split("): ", 1)[1]
        return short(text)
    return short(exc)


def describe(exc: tweepy.HTTPException) -> str:
    messages = [str(message) for message in exc.api_messages]
    try:
        body = exc.response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        messages += [
            str(body[k]) for k in ("title", "detail") if body.get(k) and str(body[k]) not in messages
        ]
    return "; ".join(messages[:2])[:300] or str(getattr(exc.response, "reason", "") or "")


def short(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:300]


def sliced_wait(ctx: SourceContext, seconds: float, *, slice_seconds: float, ended: threading.Event) -> bool:
    """Wait in slices, telling the watchdog after each that the silence is deliberate (a poll interval or a
    rate-limit pause is not a dead connection). True when stopping or the session was aborted."""
    slices = max(1, math.ceil(seconds / slice_seconds)) if seconds > 0 else 0
    for _ in range(slices):
        if ended.is_set() or ctx.wait(seconds / slices):
            return True
        ctx.alive()
    return ended.is_set() or ctx.stopping.is_set()
