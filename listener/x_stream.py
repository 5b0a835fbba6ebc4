"""tweepy's StreamingClient with a reconnect loop we can stop at once and test in milliseconds.

The loop is tweepy's (streaming.py `_connect`), with the same waits by default: network errors back off
linearly (+0.25 s up to 16 s), HTTP errors exponentially from 5 s to 320 s, 420/429 from 60 s, a clean close
reconnects at once. It is re-implemented, not inherited, for three reasons: tweepy keeps those waits in local
variables (tests could not shorten them), sleeps with `time.sleep` (a stop would wait up to 320 s) and has no
way to interrupt a read (a stop would wait for the next keep-alive). Here the waits come from `Backoff`, every
wait ends when the stop event is set, and `disconnect()` shuts the socket down under the blocked read."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import tweepy
import urllib3

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


@dataclass(frozen=True)
class Backoff:
    network_step: float = 0.25
    network_max: float = 16.0
    http_start: float = 5.0
    http_max: float = 320.0
    http_429_start: float = 60.0

    def scaled(self, factor: float) -> Backoff:
        """The same shape, every wait multiplied (tests use 0.01)."""
        return Backoff(**{name: value * factor for name, value in vars(self).items()})


class StreamEvents(Protocol):
    """What the stream reports. Called on the stream's thread; none of them may raise."""

    def on_connect(self) -> None: ...

    def on_line(self, line: bytes) -> None: ...

    def on_keep_alive(self) -> None: ...

    def on_refused(self, status: int, detail: str) -> None: ...

    def on_connection_error(self, error: str) -> None: ...

    def on_closed(self) -> None: ...


class XStream(tweepy.StreamingClient):
    def __init__(
        self,
        bearer_token: str,
        *,
        events: StreamEvents,
        stop: threading.Event,
        backoff: Backoff | None = None,
        read_timeout: float = 21.0,
    ) -> None:
        super().__init__(bearer_token, return_type=dict, wait_on_rate_limit=False)
        self.events = events
        self.stop_event = stop
        self.backoff = backoff or Backoff()
        self.read_timeout = read_timeout
        self._response: requests.Response | None = None

    def disconnect(self) -> None:
        self.running = False
        response = self._response
        if response is not None:
            _shut_down(response)

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.stop_event.wait(seconds)

    def _connect(self, method: str, endpoint: str, params: Any = None, **_: Any) -> None:
        url = f"https://api.twitter.com/2/tweets/{endpoint}/stream"
        self.session.headers["Authorization"] = f"Bearer {self.bearer_token}"
        self.session.headers["User-Agent"] = self.user_agent
        self.running = not self.stop_event.is_set()
        policy = self.backoff
        network_wait = 0.0
        http_wait = policy.http_start
        try:
            while self.running and not self.stop_event.is_set():
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
                        self._response = response
                        if self.stop_event.is_set():
                            break
                        if response.status_code != 200:
                            self.events.on_refused(response.status_code, _error_text(response))
                            if response.status_code in (420, 429):
                                http_wait = max(http_wait, policy.http_429_start)
                            self._wait(http_wait)
                            http_wait = min(http_wait * 2, policy.http_max)
                            continue
                        network_wait, http_wait = 0.0, policy.http_start
                        self.events.on_connect()
                        for line in response.iter_lines(chunk_size=self.chunk_size):
                            if not self.running:
                                break
                            if line:
                                self.events.on_line(line)
                            else:
                                self.events.on_keep_alive()
                        if self.running:
                            self.events.on_closed()
                except _NETWORK_ERRORS as exc:
                    if not self.running or self.stop_event.is_set():
                        break
                    self.events.on_connection_error(f"{type(exc).__name__}: {_first_line(exc)}")
                    self._wait(network_wait)
                    network_wait = min(network_wait + policy.network_step, policy.network_max)
                except Exception as exc:
                    # Not a network error tweepy knows; keep the stream alive, but slowly, and say so loudly.
                    log.exception("unexpected error on the X stream")
                    self.events.on_connection_error(f"unexpected {type(exc).__name__}: {_first_line(exc)}")
                    self._wait(http_wait)
                    http_wait = min(http_wait * 2, policy.http_max)
                finally:
                    self._response = None
        finally:
            self.session.close()
            self.running = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
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
