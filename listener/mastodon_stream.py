"""Mastodon.py's SSE streams, made to survive what a network sends and to stop when told.

Mastodon.py opens the stream (auth, the instance's streaming host, `run_async` handles with `.close()`), but
its own reader (`StreamListener.handle_stream`) ends the connection at the first line that is not `key: value`,
the first event that is not JSON or not UTF-8, and casts ids to int and times to datetime (the original JSON is
what earful stores). It also reads less than the format allows: lines split on `\\n` only, and `key: value`
needs the space. `SSEReader.handle_stream` reads event streams as the WHATWG HTML standard defines them
(9.2.6, "Interpreting an event stream"), which a proxy or another server may use where Mastodon does not:

- a line ends at CRLF, LF or CR (a CRLF split across two chunks is one line end); a leading BOM is dropped;
- `:` starts a comment (Mastodon's `:thump` heartbeat); `field:value` takes one optional space after the
  colon, a line without a colon is a field with an empty value;
- `data` lines join with LF; `event` names the type (`message` without one); `id` and `retry` are read and
  have no use here (the supervisor reconnects, the cursor resumes); other fields are ignored;
- a blank line dispatches the event; a block without data dispatches nothing.

Each event is handed over with its raw bytes, so a bad one (not UTF-8, too long, not JSON) is put aside and
the next is read. A block of only unknown fields is put aside too: the standard ignores it, but it is the
server sending something earful does not know, worth a look. The stream never moves a cursor
(listener/mastodon_source.py), so whatever is put aside here is read again by the next reconciliation.

With `run_async`, Mastodon.py connects inside its own thread and retries a refused or failed connect there for
ever, keeping the status to itself; `RecordingSession` tells the waiting session what the connect got."""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from mastodon import StreamListener

MAX_EVENT_BYTES = 1_048_576


class Events(Protocol):
    """What the reader reports, on the stream's own thread. An exception raised here ends the stream."""

    def on_bytes(self) -> None: ...

    def on_event(self, name: str, data: str | None, raw: bytes) -> None: ...

    def on_malformed(self, reason: str, raw: bytes) -> None: ...


class ConnectWatch:
    """What the latest stream connect got: a response (any status) or an exception."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.status: int | None = None
        self.headers: Mapping[str, str] = {}
        self.body = ""
        self.error: BaseException | None = None

    def observe(self, response: requests.Response | None, error: BaseException | None) -> None:
        if self.answered.is_set():
            return
        if response is not None:
            self.status, self.headers = response.status_code, response.headers
            if response.status_code != 200:
                self.body = response.text[:500]
        self.error = error
        self.answered.set()


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RecordingSession(requests.Session):
    """The requests session Mastodon.py uses. Remembers each thread's last response (its rate-limit headers
    and original JSON), and reports stream connects to `stream_watch`."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()
        self.stream_watch: Callable[[requests.Response | None, BaseException | None], None] | None = None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        streaming = "/api/v1/streaming/" in str(url)
        watch = self.stream_watch if streaming else None
        try:
            response = super().request(method, url, *args, **kwargs)
        except BaseException as exc:
            if watch is not None:
                watch(None, exc)
            raise
        if watch is not None:
            watch(response, None)
        if not streaming:
            self._local.last = response
        return response

    def last(self) -> requests.Response | None:
        """The last REST response on this thread."""
        return getattr(self._local, "last", None)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if _is_loopback(str(url)):
            # A local server (the sandbox) is never reached through a proxy from the environment.
            settings["proxies"] = {}
        return settings


class SSEReader(StreamListener):
    """Reads one SSE response for `events`. Never raises: `outcome` says how the stream ended (None: the
    server closed it cleanly) and `done` is set."""

    def __init__(self, events: Events, *, cancelled: Callable[[], bool]) -> None:
        super().__init__()
        self.events = events
        self.cancelled = cancelled
        self.opened = threading.Event()
        self.done = threading.Event()
        self.outcome: BaseException | None = None
        self.response: requests.Response | None = None

    def handle_stream(self, response: requests.Response) -> None:
        self.response = response
        self.opened.set()
        try:
            if not self.cancelled():
                self._read(response)
        except Exception as exc:  # the session maps it; this thread must end quietly
            self.outcome = exc
        finally:
            self.done.set()

    def shut_down(self) -> None:
        """Wake the read blocked on the socket (closing the response alone does not, on Linux)."""
        response = self.response
        connection = getattr(getattr(response, "raw", None), "_connection", None)
        sock = getattr(connection, "sock", None)
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _read(self, response: requests.Response) -> None:
        # Chunked (as Mastodon's streaming server sends): each chunk as it comes. Otherwise byte by byte, as
        # Mastodon.py does, since a plain read would wait for the end of the response.
        chunk_size = None if getattr(response.raw, "chunked", False) else 1
        lines = Lines()
        event = _Event()
        for chunk in response.iter_content(chunk_size=chunk_size):
            if self.cancelled():
                return
            if not chunk:
                continue
            self.events.on_bytes()
            for line, end in lines.feed(chunk):
                if line == b"":
                    self._dispatch(event)
                    event = _Event()
                else:
                    event.add(line, end)
            if lines.pending > MAX_EVENT_BYTES:
                event.add(lines.take(), b"")

    def _dispatch(self, event: _Event) -> None:
        if event.problem:
            self.events.on_malformed(event.problem, event.raw())
        elif event.data is not None:
            self.events.on_event(event.name or "message", "\n".join(event.data), event.raw())
        elif event.unknown:
            names = ", ".join(repr(name[:40]) for name in event.unknown[:5])
            self.events.on_malformed(f"an SSE block without data, only unknown fields ({names})", event.raw())


class Lines:
    """Splits a byte stream into lines at CRLF, LF or CR, as chunks come; each with the bytes that ended it."""

    def __init__(self) -> None:
        self._buffer = b""
        self._after_cr = False
        self._first = True

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def take(self) -> bytes:
        """The unended line so far (an over-long one, given up on)."""
        data, self._buffer = self._buffer, b""
        return data

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF whose CR ended the last chunk
        self._after_cr = False
        buffer = self._buffer + chunk
        if self._first and buffer:
            if len(buffer) < 3 and b"\xef\xbb\xbf".startswith(buffer):
                self._buffer = buffer
                return []  # perhaps a BOM, still coming
            self._first = False
            buffer = buffer.removeprefix(b"\xef\xbb\xbf")
        out: list[tuple[bytes, bytes]] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            out.append((buffer[start : match.start()], match.group()))
            start = match.end()
        self._buffer = buffer[start:]
        # A CR at the very end may be the first half of a CRLF: its LF must not end another (empty) line.
        self._after_cr = bool(out) and start == len(buffer) and out[-1][1] == b"\r"
        return out


_LINE_END = re.compile(rb"\r\n|\r|\n")


class _Event:
    """One block of field lines, read as the standard says, and the bytes it came as."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.name: str | None = None
        self.data: list[str] | None = None
        self.unknown: list[str] = []
        self.problem = ""

    def raw(self) -> bytes:
        return b"".join(self.chunks) + b"\n"

    def add(self, line: bytes, end: bytes) -> None:
        if line.startswith(b":"):
            return  # a heartbeat (`:thump`) or comment; on_bytes already counted it as life
        self.size += len(line) + 1
        if self.size > MAX_EVENT_BYTES:
            if not self.problem.startswith("longer"):
                self.problem = f"longer than the {MAX_EVENT_BYTES} bytes an event may have"
            return
        self.chunks.append(line + (end or b"\n"))
        if self.problem:
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.problem = f"not UTF-8 ({exc.reason} at byte {exc.start})"
            return
        field, _, value = text.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self.name = value
        elif field == "data":
            self.data = [*(self.data or []), value]
        elif field in ("id", "retry"):
            pass  # the last event id and the reconnection time: the supervisor decides both here
        else:
            self.unknown.append(field)
