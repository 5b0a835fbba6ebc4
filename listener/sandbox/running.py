"""Any sandbox server in a background thread with its own event loop, for sync tests and `earful demo`."""

from __future__ import annotations

import asyncio
import threading
from typing import Generic, Protocol, TypeVar


class AsyncServer(Protocol):
    @property
    def base_url(self) -> str: ...

    async def start(self, port: int = 0, host: str = "127.0.0.1") -> str: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=AsyncServer)


class SandboxThread(Generic[S]):
    def __init__(self, sandbox: S, *, name: str = "sandbox") -> None:
        self.sandbox = sandbox
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        try:
            return asyncio.run_coroutine_threadsafe(self.sandbox.start(port, host), loop).result(timeout=30)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.sandbox.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> S:
        self.start()
        return self.sandbox

    def __exit__(self, *_exc: object) -> None:
        self.stop()
