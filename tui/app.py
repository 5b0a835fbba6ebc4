"""The desk's Textual app. Built by earful.app.make_tui, which the CLI and the tests both use."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from textual import work
from textual.app import App

from responders.customers import CustomerBook
from responders.desk import Desk
from tui.commands import DeskCommands
from tui.help import HelpScreen
from tui.inbox import InboxScreen
from tui.text import notify_literal
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
        customers: CustomerBook | None = None,
    ) -> None:
        super().__init__()
        self.desk = desk
        self.customers = customers or CustomerBook(desk.store, desk.responder)
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

    def open_customer(self, customer_id: int) -> None:
        from tui.customer import CustomerScreen

        self.push_screen(CustomerScreen(customer_id))

    @work(thread=True, group="open-customer")
    def open_customer_of(self, thread_id: int) -> None:
        """The record of the customer behind a thread (looked up off the UI thread)."""
        view = self.desk.thread(thread_id)
        if view is None or view.customer is None or view.customer.id is None:
            self.call_from_thread(
                notify_literal, self, "No customer record on this thread yet", severity="warning"
            )
            return
        self.call_from_thread(self.open_customer, view.customer.id)

    def action_alerts(self) -> None:
        from tui.alerts import AlertsScreen

        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))
