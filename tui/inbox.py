"""The inbox: threads awaiting an answer, most urgent first, refreshed live without losing your place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from responders.desk import VIEWS
from responders.triage import ClaimedByOther
from store.queries import InboxRow
from tui.commands import INBOX, bindings
from tui.pickers import StatusPicker
from tui.text import SENTIMENT_STYLES, ago, literal, tier_badge, time_left, why

if TYPE_CHECKING:
    from tui.app import EarfulApp

COLUMNS = ("Tier", "Urg", "Waiting", "SLA", "Net", "Status", "Owner", "Customer", "Message")
MESSAGE, OWNER = COLUMNS.index("Message"), COLUMNS.index("Owner")
VIEW_NAMES = list(VIEWS)


@dataclass
class Loaded(Message):
    rows: list[InboxRow]
    counts: dict[str, int]
    status: str


@dataclass
class StatusTick(Message):
    """Nothing changed in the store; only the status line (sources, counts) is refreshed."""

    status: str


class InboxScreen(Screen[None]):
    CSS_PATH = "inbox.tcss"
    COMMANDS_DECLARED = INBOX
    BINDINGS = bindings(INBOX)

    def __init__(self) -> None:
        super().__init__()
        self.view_name = "awaiting"
        self._rows: dict[str, InboxRow] = {}
        self._seen_change: datetime | None = None
        self._loaded_once = False

    @property
    def earful(self) -> EarfulApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="views")
        yield DataTable(id="threads", cursor_type="row", zebra_stripes=True)
        yield Static(id="preview")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column.lower())
        self.reload(force=True)
        self.set_interval(self.earful.refresh_seconds, self.reload)

    def on_screen_resume(self) -> None:
        self.reload(force=True)

    # Loading runs in a thread: the database may be slow, the keyboard must not be.
    @work(thread=True, exclusive=True, group="inbox-load")
    def reload(self, force: bool = False) -> None:
        desk = self.earful.desk
        change = desk.last_change()
        if not force and self._loaded_once and change == self._seen_change:
            self.post_message(StatusTick(self.earful.status_line()))
            return
        self._seen_change = change
        self.post_message(Loaded(desk.inbox(self.view_name), desk.counts(), self.earful.status_line()))

    def on_loaded(self, message: Loaded) -> None:
        self._loaded_once = True
        table = self.query_one(DataTable)
        keep = self.selected_key()
        table.clear()
        self._rows = {}
        now = datetime.now(UTC)
        for row in message.rows:
            key = str(row.thread_id)
            self._rows[key] = row
            table.add_row(*self._cells(row, now), key=key)
        if keep in self._rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        self._show_counts(message.counts)
        self._show_title(message.status, len(message.rows))
        self._show_preview()

    def on_status_tick(self, message: StatusTick) -> None:
        self._show_title(message.status, len(self._rows))

    @staticmethod
    def _cells(row: InboxRow, now: datetime) -> tuple[Text, ...]:
        who = row.customer or row.handle
        if row.handle and row.customer != row.handle:
            who = f"{row.customer} @{row.handle}"
        message = literal(row.text, SENTIMENT_STYLES.get(row.sentiment or "", ""), one_line=True)
        message.truncate(70, overflow="ellipsis")
        customer = literal(who, one_line=True)
        customer.truncate(28, overflow="ellipsis")
        return (
            tier_badge(row.tier),
            Text(str(row.urgency), justify="right"),
            Text(ago(row.awaiting_since, now) or "—"),
            time_left(row.sla_due_at, now),
            Text(row.network),
            Text(row.status),
            literal(row.assignee or "", one_line=True),
            customer,
            message,
        )

    def _show_counts(self, counts: dict[str, int]) -> None:
        parts = Text()
        for name in VIEW_NAMES:
            style = "bold reverse" if name == self.view_name else "dim"
            parts.append(f" {name} {counts.get(name, 0)} ", style=style)
            parts.append(" ")
        self.query_one("#views", Static).update(parts)

    def _show_title(self, status: str, shown: int) -> None:
        title = Text("earful", style="bold")
        title.append(f"  {self.view_name}: {shown} threads", style="")
        if status:
            title.append(f"   {status}", style="dim")
        self.query_one("#title", Static).update(title)

    def _show_preview(self) -> None:
        row = self._rows.get(self.selected_key() or "")
        preview = self.query_one("#preview", Static)
        if row is None:
            preview.update(Text("Nothing here yet: new mentions appear as they arrive.", style="dim"))
            return
        text = Text()
        text.append(f"@{row.handle} " if row.handle else "", style="bold")
        text.append(
            f"({row.followers:,} followers) · {row.brand} · {row.mention_count} messages\n", style="dim"
        )
        # Above the text, which may run past the pane's last line.
        if row.explanation or row.risks:
            text.append_text(why(row.explanation, row.risks))
            text.append("\n")
        text.append_text(literal(row.text))
        preview.update(text)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_preview()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_thread()

    def selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None

    def selected_thread(self) -> int | None:
        key = self.selected_key()
        return int(key) if key else None

    def action_open_thread(self, compose: bool = False) -> None:
        thread_id = self.selected_thread()
        if thread_id is not None:
            self.earful.open_thread(thread_id, compose=compose)

    def action_reply(self) -> None:
        self.action_open_thread(compose=True)

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()

    def action_next_view(self) -> None:
        self.view_name = VIEW_NAMES[(VIEW_NAMES.index(self.view_name) + 1) % len(VIEW_NAMES)]
        self.reload(force=True)

    def action_claim(self) -> None:
        if (thread_id := self.selected_thread()) is not None:
            self._act(thread_id, "claim")

    def action_resolve(self) -> None:
        if (thread_id := self.selected_thread()) is not None:
            self._act(thread_id, "resolved")

    def action_move(self) -> None:
        thread_id = self.selected_thread()
        if thread_id is None:
            return

        def chosen(status: str | None) -> None:
            if status:
                self._act(thread_id, status)

        self.app.push_screen(StatusPicker(), chosen)

    @work(thread=True, group="inbox-act")
    def _act(self, thread_id: int, what: str) -> None:
        desk = self.earful.desk
        try:
            if what == "claim":
                desk.claim(thread_id)
                note = f"Thread {thread_id} is yours"
            else:
                desk.set_status(thread_id, what)
                note = f"Thread {thread_id} moved to {what}"
        except ClaimedByOther as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.app.call_from_thread(self.notify, note, timeout=2)
        self.reload(force=True)
