"""One connection of tweepy's filtered stream, for the supervisor to reconnect.

tweepy's `StreamingClient.filter()` builds the request (expansions and fields, comma-joined, as X wants them);
its `_connect` loop would then retry on its own, with waits tests cannot shorten, `time.sleep`s a stop cannot
end, and failures the supervisor would never see. Here `_connect` makes exactly one request and raises what
went wrong as a `SourceError`, so backoff, the watchdog and health live in one place (`listener.supervisor`).
`disconnect()` shuts the socket down under a blocked read: the watchdog and stop take effect at once, not at
the next keep-alive."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests
import tweepy
import urllib3

from listener.source import (
    ConnectionLost,
    Fatal,
    RateLimited,
    Refused,
    SourceError,
    answer_kind,
    not_the_api,
    retry_after,
)

log = logging.getLogger(__name__)

_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ssl.SSLError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.ProtocolError,
    OSError,
)


class StreamEvents(Protocol):
    """What the connection reports, on the thread that called `filter()`. A raised `SourceError` ends it."""

    def on_connect(self) -> None: ...

    def on_line(self, line: bytes) -> None: ...

    def on_keep_alive(self) -> None: ...


class XStream(tweepy.StreamingClient):
    def __init__(
        self,
        bearer_token: str,
        *,
        events: StreamEvents,
        read_timeout: float = 21.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(bearer_token, return_type=dict, wait_on_rate_limit=False, max_retries=0)
        self.events = events
        self.read_timeout = read_timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        self.cut = False

    def disconnect(self) -> None:
        """Safe from any thread, before, during or after the connection."""
        with self._lock:
            self.cut = True
            self.running = False
            response = self._response
        if response is not None:
            _shut_down(response)

    def _connect(self, method: str, endpoint: str, params: Any = None, **_: Any) -> None:
        url = f"https://api.twitter.com/2/tweets/{endpoint}/stream"
        self.session.headers["Authorization"] = f"Bearer {self.bearer_token}"
        self.session.headers["User-Agent"] = self.user_agent
        with self._lock:
            if self.cut:
                return
            self.running = True
        try:
            with self.session.request(
                method,
                url,
                params=params,
                timeout=self.read_timeout,
                stream=True,
                verify=self.verify,
                proxies=self.proxies,
            ) as response:
                with self._lock:
                    self._response = response
                    if self.cut:
                        return
                if response.status_code != 200:
                    raise refusal(
                        response.status_code,
                        _error_text(response),
                        until=retry_after(response.headers, self.clock()),
                    )
                # A proxy or captive portal answers 200 with a page: no stream, and no lost connection either.
                kind = answer_kind(response.headers.get("Content-Type"), b"")
                if kind is not None:
                    raise not_the_api("X", 200, kind)
                self.events.on_connect()
                for line in response.iter_lines(chunk_size=self.chunk_size):
                    if not self.running:
                        return
                    if line:
                        self.events.on_line(line)
                    else:
                        self.events.on_keep_alive()
        except _NETWORK_ERRORS as exc:
            if self.cut:
                return  # we cut it: the caller knows why
            raise ConnectionLost(
                f"stream connection lost: {type(exc).__name__}: {_first_line(exc)}"
            ) from None
        finally:
            with self._lock:
                self._response = None
                self.running = False
            self.session.close()


def refusal(status: int, detail: str, *, until: float | None = None) -> SourceError:
    """The error for a stream connect X answered with `status`, in the words the desk shows. `until`: when
    the answer's Retry-After says to come back."""
    reason = f"X refused the stream: {status} {detail}".strip()
    if status in (420, 429):
        return RateLimited(reason, until=until)
    if status == 401:
        return Fatal(f"{reason}; check x.bearer_token")
    if status == 403:
        return Fatal(
            f"{reason}; the app's access level may not include the filtered stream (x.mode = 'poll')"
        )
    return Refused(status, f"X refused the stream: {detail}".strip(), until=until)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        kind = answer_kind(response.headers.get("Content-Type"), response.content[:200])
        reason = response.reason or ""
        return f"{reason} ({kind}, not the API)".strip() if kind else reason
    if isinstance(body, dict):
        parts = [str(body.get(key)) for key in ("title", "detail", "connection_issue") if body.get(key)]
        return ": ".join(parts)[:300]
    return str(body)[:300]


def _shut_down(response: requests.Response) -> None:
    """Wake the read blocked on this response's socket (closing the file alone does not, on Linux)."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
