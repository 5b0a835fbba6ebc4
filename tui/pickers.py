"""Small choosers: a status to move a thread to, a saved reply to start from."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
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
    def __init__(self, replies: Sequence[SavedReply]) -> None:
        options = []
        for i, saved in enumerate(replies, start=1):
            label = Text(f"{i}  " if i < 10 else "   ")
            label.append(saved.name, style="bold")
            label.append("  ")
            label.append_text(literal(saved.text, "dim", one_line=True))
            label.truncate(72, overflow="ellipsis")
            options.append((saved.name, label))
        super().__init__("Start from a saved reply", options)
