"""`?`: every key of the screen beneath, generated from its bindings, so it can never disagree with them.

Keys remapped in configuration ([desk.keys]) show as remapped: the table is read from the screen's live
bindings, not from the declarations.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.commands import Command


def key_rows(screen: Screen[object]) -> list[tuple[str, str, str, str]]:
    """(key as shown, label, what it does, binding id) for each declared command of `screen`, in declaration order."""
    declared: list[Command] = list(getattr(screen, "COMMANDS_DECLARED", []))
    live: dict[str, list[str]] = {}
    for key, active in screen.active_bindings.items():
        binding_id = active.binding.id
        if binding_id:
            live.setdefault(binding_id, []).append(screen.app.get_key_display(active.binding) or key)
    rows = []
    for command in declared:
        keys = live.get(command.id) or [screen.app.get_key_display(command.binding())]
        rows.append((" / ".join(dict.fromkeys(keys)), command.label, command.help, command.id))
    return rows


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $panel; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close", tooltip="Close the key list"),
        # The list is longer than a small window: the desk's own movement keys scroll it.
        Binding("j,down", "scroll(1)", "Down", id="help.down", tooltip="Scroll down", show=False),
        Binding("k,up", "scroll(-1)", "Up", id="help.up", tooltip="Scroll up", show=False),
        Binding("ctrl+d,pagedown", "scroll(10)", "Page down", id="help.page_down", show=False),
        Binding("ctrl+u,pageup", "scroll(-10)", "Page up", id="help.page_up", show=False),
    ]

    def __init__(self, beneath: Screen[object]) -> None:
        super().__init__()
        self._rows = key_rows(beneath)
        self._title = getattr(beneath, "HELP_TITLE", "Keys")

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(ratio=1)
        table.add_column(style="dim", no_wrap=True)
        for key, label, help_text, binding_id in self._rows:
            table.add_row(key, label, help_text, binding_id)
        footer = Text(
            "\nctrl+p lists the commands that apply now · remap a key by its id (last column) in "
            'earful.toml [desk.keys], e.g. "inbox.done" = "e"',
            style="dim",
        )
        with VerticalScroll():
            yield Static(Text(self._title, style="bold underline"))
            yield Static(table, id="keys")
            yield Static(footer)

    def action_scroll(self, lines: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
