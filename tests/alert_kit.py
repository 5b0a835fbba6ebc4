"""What the alert tests share: a webhook endpoint on 127.0.0.1 that records what apprise's json:// plugin posts to
it, a port nothing listens on (a subscriber that is down), and a firing routed the way the rules route one."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from responders.alerts import AlertSettings
from responders.firing import record_firing
from responders.subscribers import route_firing
from store import Store


class Receiver:
    """Records every notification; `reject` picks the ones it answers with HTTP 500 (and does not keep), and
    `delay` how long it takes before answering one (the nth request, counting from 0): a slow receiver that
    keeps what it got even when the sender stopped waiting."""

    def __init__(
        self,
        port: int = 0,
        reject: Callable[[dict[str, Any]], bool] = lambda _: False,
        delay: Callable[[int], float] = lambda _: 0.0,
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        received = self.requests
        arrived = itertools.count()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length))
                time.sleep(delay(next(arrived)))
                refused = reject(payload)
                if not refused:
                    received.append(
                        {
                            "path": self.path,
                            "content_type": self.headers.get("Content-Type", ""),
                            "headers": dict(self.headers.items()),
                            "json": payload,
                        }
                    )
                try:
                    self.send_response(500 if refused else 200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender stopped waiting; what it sent is kept all the same

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"json://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [r["json"] for r in self.requests]

    @property
    def titles(self) -> list[str]:
        return [str(m["title"]) for m in self.messages]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def closed_port() -> int:
    """A port nothing listens on (a subscriber that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fire(store: Store, settings: AlertSettings, key: str, now: datetime, **kwargs: Any) -> None:
    """A critical-mention firing keyed `key` at `now`, routed to `settings`' subscribers."""
    kwargs.setdefault("figures", {"tier": "critical"})
    with store.write() as session:
        firing = record_firing(
            session=session,
            rule=kwargs.pop("rule", "urgent-mention"),
            kind=kwargs.pop("kind", "tier"),
            key=key,
            title=f"Critical complaint {key}",
            reason=f"Critical complaint {key} about Acme on X",
            now=now,
            brand="acme",
            network="x",
            **kwargs,
        )
        assert firing is not None
        route_firing(firing, session=session, settings=settings, now=now)
