"""Small choosers: a status to move a thread to, a saved reply to start from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from responders.templates import SavedReply
from store.models import ThreadStatus
from tui.text import literal


class _Picker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    _Picker { align: center middle; }
    _Picker > Vertical { width: 80; height: auto; max-height: 80%; border: round $accent; background: $panel; }
    _Picker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel", tooltip="Close without choosing")]

    def __init__(self, title: str, options: Sequence[tuple[str, Text]]) -> None:
        super().__init__()
        self._title = title
        self._options = options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title, style="bold"))
            yield OptionList(*(Option(label, id=value) for value, label in self._options))

    def on_key(self, event: events.Key) -> None:
        # Number keys pick directly: the fastest path for the choices used all day.
        if event.character and event.character.isdigit():
            index = int(event.character) - 1
            if 0 <= index < len(self._options):
                event.stop()
                self.dismiss(self._options[index][0])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class StatusPicker(_Picker):
    def __init__(self) -> None:
        super().__init__(
            "Move the thread to",
            [(s.value, Text(f"{i}  {s.value}")) for i, s in enumerate(ThreadStatus, start=1)],
        )


class SavedReplyPicker(_Picker):
    def __init__(self, replies: Sequence[SavedReply], uses: dict[str, int] | None = None) -> None:
        options = []
        for i, saved in enumerate(replies, start=1):
            label = Text(f"{i}  " if i < 10 else "   ")
            label.append(saved.name, style="bold")
            if uses is not None:
                # How often each is used: the most used ones are the FAQ worth improving.
                label.append(f" ×{uses.get(saved.name, 0)}", style="cyan")
            label.append("  ")
            label.append_text(literal(saved.text, "dim", one_line=True))
            label.truncate(72, overflow="ellipsis")
            options.append((saved.name, label))
        super().__init__("Start from a saved reply", options)


class AssignPicker(_Picker):
    """Who the threads go to: only names that worked on this desk (responders.triage.assignable), so a typo can
    never hold a thread for good; `-` gives them to nobody."""

    def __init__(self, names: Sequence[str], *, me: str, holders: Sequence[str] = ()) -> None:
        ordered = [me, *(name for name in names if name not in (me, "-"))]
        options = []
        for i, name in enumerate(ordered, start=1):
            label = Text(f"{i}  " if i < 10 else "   ")
            label.append_text(literal(name, "bold" if name == me else "", one_line=True))
            if name == me:
                label.append("  me", style="dim")
            if name in holders:
                label.append("  holds it now", style="magenta")
            options.append((name, label))
        options.append(("-", Text("-  nobody (unassign)", style="dim")))
        title = "Assign to"
        if holders:
            title += f" (now held by {', '.join(holders)})"
        super().__init__(title, options)

    def on_key(self, event: events.Key) -> None:
        # Textual calls _Picker.on_key too (handlers run for each class): only "-" is handled here.
        if event.character == "-":
            event.stop()
            self.dismiss("-")


def snooze_choices(now: datetime) -> list[tuple[str, str, datetime | None]]:
    """(key, label, until) for the snooze picker; until None means 'until the customer writes again'.

    Times are the responder's local clock: "tomorrow 9:00" means their morning, stored as UTC.
    """
    local = now.astimezone()
    tomorrow = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    monday = (local + timedelta(days=7 - local.weekday())).replace(hour=9, minute=0, second=0, microsecond=0)
    return [
        ("reply", "until they write again", None),
        ("1h", f"1 hour ({(local + timedelta(hours=1)):%H:%M})", now + timedelta(hours=1)),
        ("4h", f"4 hours ({(local + timedelta(hours=4)):%H:%M})", now + timedelta(hours=4)),
        ("tomorrow", f"tomorrow {tomorrow:%a %H:%M}", tomorrow.astimezone(UTC)),
        ("monday", f"next week {monday:%a %d %b %H:%M}", monday.astimezone(UTC)),
    ]


class SnoozePicker(_Picker):
    def __init__(self, now: datetime) -> None:
        self.choices = {key: until for key, _, until in snooze_choices(now)}
        super().__init__(
            "Snooze until",
            [(key, Text(f"{i}  {label}")) for i, (key, label, _) in enumerate(snooze_choices(now), start=1)],
        )


class Prompt(ModalScreen[str | None]):
    """One line of input: a tag, a colleague's name. Enter accepts, escape cancels."""

    DEFAULT_CSS = """
    Prompt { align: center middle; }
    Prompt > Vertical { width: 70; height: auto; border: round $accent; background: $panel; padding: 0 1; }
    Prompt Input { margin: 1 0 0 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel", tooltip="Close without changing")]

    def __init__(self, title: str, *, hint: str = "", suggestions: Sequence[str] = ()) -> None:
        super().__init__()
        self._title, self._hint, self._suggestions = title, hint, list(suggestions)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title, style="bold"))
            if self._hint:
                yield Static(Text(self._hint, style="dim"))
            yield Input(
                suggester=SuggestFromList(self._suggestions, case_sensitive=False)
                if self._suggestions
                else None
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
