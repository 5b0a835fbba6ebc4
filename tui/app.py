"""The desk's Textual app. Built by earful.app.make_tui, which the CLI and the tests both use."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from textual.app import App

from responders.desk import Desk
from tui.commands import DeskCommands
from tui.inbox import InboxScreen
from tui.thread import ThreadScreen


class EarfulApp(App[None]):
    TITLE = "earful"
    COMMANDS = App.COMMANDS | {DeskCommands}

    def __init__(
        self,
        desk: Desk,
        *,
        refresh_seconds: float = 1.0,
        status: Callable[[], str] | None = None,
        keymap: Mapping[str, str] | None = None,
        open_thread: int | None = None,
    ) -> None:
        super().__init__()
        self.desk = desk
        self.refresh_seconds = refresh_seconds
        self._status = status
        self._keymap = dict(keymap or {})
        self._open_at_start = open_thread

    def on_mount(self) -> None:
        if self._keymap:
            self.set_keymap(self._keymap)
        self.push_screen(InboxScreen())
        if self._open_at_start is not None:
            self.open_thread(self._open_at_start)

    def status_line(self) -> str:
        """What the sources and the pipeline are doing, for the title bar (called from worker threads)."""
        if self._status is None:
            return ""
        try:
            return self._status()
        except Exception as exc:  # a status probe must never take the desk down
            return f"status unavailable: {exc}"

    def open_thread(self, thread_id: int, *, compose: bool = False) -> None:
        self.push_screen(ThreadScreen(thread_id, compose=compose))
