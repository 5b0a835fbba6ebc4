"""praw pointed at the configured base URLs, over a session whose open sockets can be cut from another thread,
and prawcore's exceptions as the supervisor's SourceErrors.

Two changes to praw's defaults, both for the same reason (one place decides when to try again, visibly):

- prawcore retries a failed call twice, sleeping up to 2 s and then 2-4 s with `time.sleep`. Here it retries
  once, at once (a stale pooled connection, an expired token); a second failure reaches the supervisor, which
  backs off by `REDDIT_POLICY` with its injectable sleep and shows the wait in the source's health.
- prawcore passes a fixed 16 s timeout to every request; here it is `reddit.read_timeout`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import praw
import prawcore
import requests
from prawcore.sessions import FiniteRetryStrategy
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from listener.config import RedditSettings
from listener.source import ConnectionLost, Fatal, RateLimited, Refused, SourceError
from listener.transport import protect_logs
from store.errors import UserError

log = logging.getLogger(__name__)

CREDENTIALS_HINT = "check reddit.client_id, reddit.client_secret, reddit.username and reddit.password"


@dataclass(frozen=True)
class _OneQuickRetry(FiniteRetryStrategy):
    retries: int = 1

    def _sleep_seconds(self) -> float | None:
        return None


class _Requestor(prawcore.Requestor):
    def __init__(self, *, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.read_timeout = read_timeout

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        return super().request(*args, timeout=self.read_timeout, **kwargs)


class _Sockets:
    """The connections one client opened, so `cut()` can end a read that is stuck waiting for the server."""

    def __init__(self) -> None:
        self.aborted = threading.Event()
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[HTTPConnection] = weakref.WeakSet()
        self.last_headers: Mapping[str, str] = {}
        self.last_at = 0.0  # time.monotonic() when they arrived: praw paces from then
        self.last_response: requests.Response | None = None

    def add(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._open.add(connection)

    def cut(self) -> None:
        self.aborted.set()
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            sock = getattr(connection, "sock", None)
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing left to wake


def _pool_classes(track: Callable[[HTTPConnection], None]) -> dict[str, type[HTTPConnectionPool]]:
    class Tracked(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            track(self)

    class TrackedTLS(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            track(self)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Tracked

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TrackedTLS

    return {"http": Pool, "https": TLSPool}


class _Adapter(HTTPAdapter):
    def __init__(self, sockets: _Sockets) -> None:
        self.sockets = sockets  # before super().__init__, which builds the pool manager
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.sockets.add)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if self.sockets.aborted.is_set():
            # prawcore would retry a cut request; after an abort there must be no new one.
            raise requests.ConnectionError("aborted by earful (stall watchdog or stop)")
        response = super().send(request, *args, **kwargs)
        self.sockets.last_response = response
        if "x-ratelimit-remaining" in response.headers:
            self.sockets.last_headers = response.headers
            self.sockets.last_at = time.monotonic()
        return response


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class RedditClient:
    """One praw.Reddit with its own HTTP session: `cut()` ends whatever request it has open."""

    def __init__(self, settings: RedditSettings) -> None:
        client_id, client_secret = _secret(settings.client_id), _secret(settings.client_secret)
        if not client_id or not client_secret:
            raise UserError(
                "Reddit needs reddit.client_id and reddit.client_secret (a 'script' app from "
                "https://www.reddit.com/prefs/apps)"
            )
        password = _secret(settings.password)
        protect_logs(client_secret, password)
        self.sockets = _Sockets()
        http = requests.Session()
        adapter = _Adapter(self.sockets)
        http.mount("http://", adapter)
        http.mount("https://", adapter)
        if _is_loopback(settings.base_url) and _is_loopback(settings.auth_url):
            http.trust_env = False  # a sandbox on 127.0.0.1 must never be sent through a proxy
        user: dict[str, Any] = {}
        if settings.username and password:
            user = {"username": settings.username, "password": password}
        self.reddit = praw.Reddit(
            client_id=client_id,
            client_secret=client_secret,
            user_agent=settings.user_agent,
            oauth_url=settings.base_url,
            reddit_url=settings.auth_url,
            check_for_updates=False,
            requestor_class=_Requestor,
            requestor_kwargs={"session": http, "read_timeout": settings.read_timeout},
            **user,
        )
        self._one_quick_retry()

    def _one_quick_retry(self) -> None:
        # praw offers no setting for it; the attribute is prawcore's (pinned: praw 8, prawcore 4).
        for core in (self.reddit._core, self.reddit._read_only_core):
            if core is None:
                continue
            if hasattr(core, "_retry_strategy_class"):
                core._retry_strategy_class = _OneQuickRetry
            else:  # a praw upgrade moved it: its own retries (with real sleeps) stay, nothing breaks
                log.warning("could not set prawcore's retry strategy; praw retries on its own")

    @property
    def aborted(self) -> bool:
        return self.sockets.aborted.is_set()

    @property
    def last_headers(self) -> Mapping[str, str]:
        return self.sockets.last_headers

    @property
    def last_at(self) -> float:
        return self.sockets.last_at

    def cut(self) -> None:
        self.sockets.cut()

    def get(self, path: str, params: dict[str, str | int]) -> Any:
        try:
            return self.reddit.request(method="GET", path=path, params=params)
        except RecursionError:
            # prawcore reads JSON with `response.json()`, which says BadJSON for what it cannot read but lets
            # a body nested a thousand deep through as RecursionError: the same unreadable answer, kept aside.
            response = self.sockets.last_response
            if response is None:
                raise
            raise prawcore.BadJSON(response) from None


def reset_at(headers: Mapping[str, str], now: float) -> float | None:
    """When Reddit's budget refills (epoch seconds): x-ratelimit-reset, or a Retry-After, in seconds from now."""
    for name in ("x-ratelimit-reset", "retry-after"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return now + max(0.0, float(value))
        except ValueError:
            continue
    return None


def source_error(exc: Exception, *, now: float, what: str = "Reddit") -> SourceError:
    """The SourceError that makes the supervisor wait as long as this failure calls for."""
    if isinstance(exc, prawcore.TooManyRequests):
        return RateLimited(f"{what} answered 429 Too Many Requests", reset_at(exc.response.headers, now))
    if isinstance(exc, prawcore.OAuthException):
        detail = f"{exc.error}: {exc.description}" if exc.description else exc.error
        return Fatal(f"Reddit refused the app's credentials ({detail}); {CREDENTIALS_HINT}")
    if isinstance(exc, prawcore.Redirect):
        return Fatal(f"{what} does not exist (Reddit answered with its search page); fix reddit.subreddits")
    if isinstance(exc, prawcore.InvalidToken):
        return Fatal(f"Reddit refused the access token (401); {CREDENTIALS_HINT}")
    if isinstance(exc, prawcore.Forbidden | prawcore.InsufficientScope):
        return Fatal(
            f"Reddit forbids reading {what} (403): the subreddit may be private, quarantined or banned, "
            "or the account lacks access"
        )
    if isinstance(exc, prawcore.NotFound):
        return Fatal(f"{what} was not found (404); fix reddit.subreddits")
    if isinstance(exc, prawcore.ResponseException):
        status = exc.response.status_code
        text = f"{exc.response.reason or ''} from {what}".strip()
        if status == 429:
            return RateLimited(f"{what} answered 429", reset_at(exc.response.headers, now))
        if status in (401, 403):
            return Fatal(f"Reddit refused the credentials ({status}); {CREDENTIALS_HINT}")
        return Refused(status, text)
    if isinstance(exc, prawcore.RequestException):
        original = exc.original_exception
        return ConnectionLost(f"could not reach {what}: {type(original).__name__}: {_short(original)}")
    return ConnectionLost(f"unexpected {type(exc).__name__} talking to {what}: {_short(exc)}")


def _short(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:300]
