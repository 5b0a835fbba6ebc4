"""`!`: the alerts that fired lately, why, and whether each subscriber got them. Enter opens the thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from responders.alert_history import FiringRow, history
from responders.alert_text import example_line
from tui.commands import ALERTS, bindings
from tui.text import literal

if TYPE_CHECKING:
    from tui.app import EarfulApp

SHOWN = 100
REFRESH_SECONDS = 10.0
_DELIVERY_STYLE = {
    "delivered": "green",
    "folded": "green",
    "held": "yellow",
    "pending": "yellow",
    "failed": "bold red",
}


@dataclass
class FiringsLoaded(Message):
    rows: list[FiringRow]
    error: str | None = None


class AlertsScreen(Screen[None]):
    COMMANDS_DECLARED = ALERTS
    BINDINGS = bindings(ALERTS)
    HELP_TITLE = "Recent alerts"
    DEFAULT_CSS = """
    AlertsScreen { layout: vertical; }
    #alerts-title { height: 1; padding: 0 1; background: $primary-background; }
    #firings { height: 1fr; }
    #firing-detail { height: auto; max-height: 12; padding: 0 1; border-top: solid $primary; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[FiringRow] = []

    @property
    def earful(self) -> EarfulApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("Recent alerts", id="alerts-title")
        table: DataTable[Text] = DataTable(id="firings", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(id="firing-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#firings", DataTable)
        table.add_column("When (UTC)", width=11, key="when")
        table.add_column("Rule", width=16, key="rule")
        table.add_column("Deliveries", width=20, key="deliveries")
        # The alert takes what is left, so the row never runs off the screen.
        table.add_column("Alert", width=max(20, self.app.size.width - 11 - 16 - 20 - 10), key="title")
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self.action_refresh)

    @work(thread=True, exclusive=True, group="alerts-load", exit_on_error=False)
    def action_refresh(self) -> None:
        try:
            rows = history(self.earful.desk.store, limit=SHOWN)
        except Exception as exc:  # a database that went away: say so, keep what is shown
            self.post_message(FiringsLoaded([], error=f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(FiringsLoaded(rows))

    def on_firings_loaded(self, message: FiringsLoaded) -> None:
        title = self.query_one("#alerts-title", Static)
        if message.error is not None:
            title.update(literal(f"Recent alerts: could not read the database ({message.error})", "red"))
            return
        table = self.query_one("#firings", DataTable)
        keep = table.cursor_row
        self.rows = message.rows
        table.clear()
        for row in self.rows:
            table.add_row(
                Text(f"{row.created_at:%m-%d %H:%M}"),
                literal(row.rule, one_line=True),
                _deliveries(row),
                literal(row.title + (f" (update {row.revision})" if row.revision else ""), one_line=True),
                key=str(row.id),
            )
        if self.rows:
            table.move_cursor(row=min(keep, len(self.rows) - 1))
        count = len(self.rows)
        title.update(
            literal(f"Recent alerts: {count} shown, newest first · enter opens the thread · r refreshes")
            if count
            else literal("No alert has fired yet. `earful alerts rules` lists the rules in force.")
        )
        self._show_detail()

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        # Enter on the focused table arrives as a selection rather than as the screen's binding.
        self.action_open_thread()

    def _current(self) -> FiringRow | None:
        table = self.query_one("#firings", DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def _show_detail(self) -> None:
        row = self._current()
        detail = self.query_one("#firing-detail", Static)
        if row is None:
            detail.update("")
            return
        text = literal(row.reason)
        for example in row.examples[:2]:
            text.append("\n")
            text.append_text(literal(example_line(example), "italic", one_line=True))
        for delivery in row.deliveries:
            text.append("\n")
            text.append_text(literal(delivery.describe(), _DELIVERY_STYLE.get(delivery.status, "")))
        detail.update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_thread":
            row = self._current()
            return row is not None and bool(row.thread_ids)
        return True

    def action_open_thread(self) -> None:
        row = self._current()
        if row is not None and row.thread_ids:
            self.earful.open_thread(row.thread_ids[0])

    def action_cursor_down(self) -> None:
        self.query_one("#firings", DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one("#firings", DataTable).action_cursor_up()

    def action_back(self) -> None:
        self.dismiss()


def _deliveries(row: FiringRow) -> Text:
    if not row.deliveries:
        return Text("nobody subscribed", style="dim")
    counts: dict[str, int] = {}
    for d in row.deliveries:
        counts[d.status] = counts.get(d.status, 0) + 1
    text = Text()
    for status, n in counts.items():
        if text:
            text.append(", ")
        text.append(f"{n} {status}", style=_DELIVERY_STYLE.get(status, ""))
    return text
