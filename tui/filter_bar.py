"""The inbox's `/` line: what the responder types, read into an InboxFilter, and right under it, what is wrong with
it (a filter too big to be a search, one the database refused), kept there until the filter changes."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from store.queries import InboxFilter
from tui.text import literal, notify_literal

PLACEHOLDER = "/ filter: net:x tier:critical sent:negative lang:en tag:refund brand:acme words…"


class FilterBar(Vertical):
    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar > #filter-error { display: none; height: 1; padding: 0 1; }
    FilterBar > #filter-error.shown { display: block; }
    """

    @dataclass
    class Applied(Message):
        """The responder asked for this filter (an empty one shows everything)."""

        filters: InboxFilter

    def compose(self) -> ComposeResult:
        yield Input(id="filter", placeholder=PLACEHOLDER)
        yield Static(id="filter-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            filters = InboxFilter.parse(event.value)
        except ValueError as exc:
            self.say(f"Filter not applied: {exc}")
            notify_literal(self, str(exc), severity="error", timeout=6)
            return
        self.say("")
        self.post_message(self.Applied(filters))

    def refused(self, reason: str) -> None:
        """The database could not run the filter's query: said here once, and as a toast."""
        said = f"The database could not run this filter ({reason}). Change it with /, or clear it."
        self.say(said)
        notify_literal(self, said, severity="error", timeout=8)

    def say(self, said: str) -> None:
        box = self.query_one("#filter-error", Static)
        box.update(literal(said, "bold red", one_line=True))
        box.set_class(bool(said), "shown")
