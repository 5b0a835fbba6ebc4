"""The inbox's `/` line: what the responder types, read into an InboxFilter (the brand terms' own language, see
store.inbox_filter), and right under it what is wrong with it (where, and how to fix it) or that what is typed
is not what the list shows yet, kept there until the filter changes."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from store.queries import InboxFilter
from tui.text import literal, notify_literal

PLACEHOLDER = '/ filter: tier:critical (refund OR "never arrived") -net:reddit from:jane Avery…'


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

    @dataclass
    class Invalid(Message):
        """What was typed is not a filter: the list must not go on showing the one before under it."""

        text: str
        reason: str

    def __init__(self) -> None:
        super().__init__()
        self.applied = ""

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
            self.post_message(self.Invalid(event.value, str(exc)))
            return
        self.applied = event.value
        self.say("")
        self.post_message(self.Applied(filters))

    def on_descendant_blur(self, _event: events.DescendantBlur) -> None:
        box = self.query_one("#filter", Input)
        error = self.query_one("#filter-error", Static)
        if box.value.strip() != self.applied.strip() and not error.has_class("shown"):
            shown = (
                f"the list shows {self.applied.strip()!r}"
                if self.applied.strip()
                else "the list is unfiltered"
            )
            self.say(f"Not applied yet ({shown}): / then enter applies what is typed", style="bold yellow")

    def refused(self, reason: str) -> None:
        """The database could not run the filter's query: said here once, and as a toast."""
        said = f"The database could not run this filter ({reason}). Change it with /, or clear it."
        self.say(said)
        notify_literal(self, said, severity="error", timeout=8)

    def say(self, said: str, *, style: str = "bold red") -> None:
        box = self.query_one("#filter-error", Static)
        box.update(literal(said, style, one_line=True))
        box.set_class(bool(said), "shown")
