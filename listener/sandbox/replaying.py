"""What every sandbox server shares: the corpus replay (preposted history, pace, pause, repeat), the aiohttp
runner's start and stop, and `_call`, which runs a function on the server's loop thread from any thread.

A network's sandbox subclasses `ReplayingServer` and supplies its app (`_app`), how a corpus tweet becomes one of
its posts (`_emit_next`, usually through `_next_from_corpus`) and, if it has any, how its open connections end
on stop (`_close_streams`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp import web

from listener.sandbox.replay import Directory, Replay, ReplayRow, SandboxTweet, Snowflakes, load_rows

T = TypeVar("T")
P = TypeVar("P")


class ReplayingServer(ABC, Generic[P]):
    """A sandbox server replaying the corpus at `data` as posts of type P: the rows `select` keeps (all by
    default), the first `limit` of them. `what` names the posts in the pace error."""

    replay_task_name: ClassVar[str] = "sandbox-replay"

    def __init__(
        self,
        *,
        what: str,
        pace: float,
        preposted: int,
        replay: bool,
        paused: bool,
        repeat: bool,
        history_spacing: float,
        directory: Directory,
        limit: int | None,
        holds: tuple[float, float],
        data: Path,
        select: Callable[[list[ReplayRow]], list[ReplayRow]] | None = None,
    ) -> None:
        if pace <= 0:
            raise ValueError(f"pace is {what} per second and must be positive")
        self.pace = pace
        self.preposted = preposted
        self.history_spacing = history_spacing
        self.auto_replay = replay
        # Start the corpus over when it runs out, so a long demo never falls silent.
        self.repeat = repeat
        self.directory = directory
        rows = load_rows(data)
        if select is not None:
            rows = select(rows)
        self.replay = Replay(rows[:limit] if limit is not None else rows, directory, holds=holds)
        self.base_url = ""
        self._running = threading.Event()
        if not paused:
            self._running.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._runner: web.AppRunner | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- what a network supplies -----------------------------------------------------------------------------

    @abstractmethod
    def _app(self) -> web.Application:
        """The aiohttp application: middlewares and routes."""

    @abstractmethod
    def _emit_next(self, now: float | None = None, at_ms: int | None = None) -> P | None:
        """Replay the next corpus tweet as a post (dated `at_ms` when given), or None if none is ready."""

    async def _close_streams(self) -> None:
        """End the open connections on stop, before the runner is cleaned up."""

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve on host:port (0 = any free port) and return the base URL, e.g. http://127.0.0.1:PORT."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        # The history spreads back from now, so ages, SLA clocks and response times look like a real desk's.
        start_ms = int(time.time() * 1000) - int(self.preposted * self.history_spacing * 1000)
        for i in range(self.preposted):
            self._emit_next(at_ms=start_ms + int(i * self.history_spacing * 1000))
        self._runner = web.AppRunner(self._app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.base_url = f"http://{host}:{self._runner.addresses[0][1]}"
        if self.auto_replay:
            self._replay_task = asyncio.create_task(self._replay_loop(), name=self.replay_task_name)
        return self.base_url

    async def stop(self) -> None:
        if self._replay_task is not None:
            self._replay_task.cancel()
            await asyncio.gather(self._replay_task, return_exceptions=True)
            self._replay_task = None
        await self._close_streams()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- scripting (any thread) ------------------------------------------------------------------------------

    def advance(self, count: int = 1) -> list[P]:
        """Replay the next `count` corpus posts at once, whatever the pace or pause."""
        return self._call(lambda: [p for p in (self._emit_next() for _ in range(count)) if p is not None])

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()
        self._call(self._wake.set)

    # -- internals (loop thread only) ------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the server's loop thread and return its result (at once when already there, or
        when the server is not running)."""
        loop = self._loop
        if loop is None or self._loop_thread == threading.get_ident() or loop.is_closed():
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def _next_from_corpus(
        self, ids: Snowflakes, now: float | None = None, at_ms: int | None = None
    ) -> SandboxTweet | None:
        """The next corpus tweet that is ready, starting the corpus over first when `repeat` asks for it."""
        if self.repeat and not self.replay.remaining:
            self.replay.restart()
        return self.replay.next_tweet(ids, now, at_ms)

    async def _replay_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.pace
        due = loop.time()
        while self.replay.remaining or self.repeat:
            if not self._running.is_set():
                self._wake.clear()
                await self._wake.wait()
                due = loop.time()
                continue
            due += interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._running.is_set():
                self._emit_next(time.monotonic())
