"""The inbox: threads most urgent first, views with live counts, filters, multi-select and bulk actions.

Live updates never move the cursor or drop the selection: rows are updated in place when the order holds, and
the cursor follows its thread (not its row number) when the order changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from sqlalchemy.exc import DBAPIError
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Static

from responders.desk import VIEWS, ActivityBucket
from store import StoreUnavailable
from store.queries import InboxFilter, InboxRow
from store.text import one_line
from tui.actions import TriageActions, database_trouble, query_fault
from tui.commands import INBOX, bindings
from tui.filter_bar import FilterBar
from tui.header import DeskHeader
from tui.text import SENTIMENT_STYLES, ago, literal, notify_literal, time_left, urgency_badge, why

if TYPE_CHECKING:
    pass

# (label, key, fixed width); the message takes whatever the window leaves, so it is never cut to a sliver.
COLUMNS = (
    ("", "sel", 1),
    ("Urgency", "urgency", 9),
    ("SLA", "sla", 4),
    ("N", "net", 1),
    ("Status", "status", 7),
    ("Owner", "owner", 10),
    ("Customer", "customer", 16),
    ("Message", "message", None),
)
KEYS = tuple(key for _, key, _ in COLUMNS)
SELECTED, STATUS, OWNER, MESSAGE = (KEYS.index(k) for k in ("sel", "status", "owner", "message"))
# One letter per network in the list (the preview spells it out), each in a colour of its own.
NETWORK_MARK = {
    "x": ("x", "bold"),
    "mastodon": ("m", "bold #8c8dff"),
    "bluesky": ("b", "bold #1185fe"),
    "reddit": ("r", "bold #ff4500"),
}
VIEW_NAMES = list(VIEWS)
# The most urgent threads of a view are listed; the sidebar counts them all, and a filter narrows the rest. A
# longer list costs every live refresh more than a responder gains from scrolling that far.
PAGE = 200
# A snooze that runs out changes nothing in the store, so the inbox also reloads on this beat.
FORCED_RELOAD_SECONDS = 15.0
ACTIVITY_SECONDS = 10.0


@dataclass
class Loaded(Message):
    rows: list[InboxRow]
    counts: dict[str, int]
    status: str


@dataclass
class StatusTick(Message):
    """Nothing changed in the store; only the status line (sources, counts) is refreshed."""

    status: str


@dataclass
class FilterFailed(Message):
    """The database refused the query this filter makes: said once, and not asked again until it changes."""

    filters: InboxFilter
    reason: str


@dataclass
class ActivityLoaded(Message):
    buckets: list[ActivityBucket]


class InboxScreen(TriageActions):
    CSS_PATH = "inbox.tcss"
    COMMANDS_DECLARED = INBOX
    BINDINGS = bindings(INBOX)
    HELP_TITLE = "Inbox keys"

    def __init__(self) -> None:
        super().__init__()
        self.view_name = VIEW_NAMES[0]
        self.filters = InboxFilter()
        # A filter the database refused: the inbox keeps what it shows instead of asking again every beat.
        self._refused: InboxFilter | None = None
        self.selected: set[int] = set()
        self._rows: dict[str, InboxRow] = {}
        self._order: list[str] = []
        self._counts: dict[str, int] = {}
        self._status = ""
        self._seen_change: datetime | None = None
        self._loaded_at = 0.0
        self._loaded_once = False
        self._critical_seen: set[int] = set()
        self._applicable: tuple[bool, bool] | None = None
        self._width = 40

    def compose(self) -> ComposeResult:
        yield DeskHeader()
        yield Static(id="status")
        with Horizontal(id="body"):
            yield Static(id="views")
            with Vertical(id="main"):
                yield FilterBar()
                yield DataTable(id="threads", cursor_type="row", zebra_stripes=True)
                yield Static(id="preview")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        table.focus()
        self.reload(force=True)
        self.load_activity()
        self.set_interval(self.earful.refresh_seconds, self.reload)
        self.set_interval(ACTIVITY_SECONDS, self.load_activity)

    def on_screen_resume(self) -> None:
        self.reload(force=True)

    # Loading runs in a thread: the database may be slow, the keyboard must not be.
    @work(thread=True, exclusive=True, group="inbox-load")
    def reload(self, force: bool = False) -> None:
        try:
            self._reload(force)
        except (DBAPIError, StoreUnavailable) as exc:
            self._seen_change = None
            if self.filters and query_fault(exc):
                self._refused = self.filters
                self.post_message(FilterFailed(self.filters, database_trouble(exc)))
                return
            # The desk stays up and keeps what it shows; the next beat tries again.
            self.post_message(StatusTick(f"database unavailable: {database_trouble(exc)} (retrying)"))

    def _reload(self, force: bool) -> None:
        desk = self.earful.desk
        change = desk.last_change()
        now = datetime.now(UTC).timestamp()
        stale = now - self._loaded_at >= FORCED_RELOAD_SECONDS
        refused = self._refused is not None and self._refused == self.filters
        if refused or (not force and not stale and self._loaded_once and change == self._seen_change):
            self.post_message(StatusTick(self.earful.status_line()))
            return
        self._loaded_at = now
        rows = desk.inbox(self.view_name, self.filters, limit=PAGE)
        self.post_message(Loaded(rows, desk.counts(self.filters), self.earful.status_line()))
        self._seen_change = change

    @work(thread=True, exclusive=True, group="inbox-activity", exit_on_error=False)
    def load_activity(self) -> None:
        self.post_message(ActivityLoaded(self.earful.desk.activity(24)))

    def on_activity_loaded(self, message: ActivityLoaded) -> None:
        self.query_one(DeskHeader).show_activity(
            [b.inbound for b in message.buckets], [b.sentiment for b in message.buckets]
        )

    def on_loaded(self, message: Loaded) -> None:
        first = not self._loaded_once
        self._loaded_once = True
        now = self.earful.desk.clock()
        self._width = self._message_width()
        rows = {str(row.thread_id): row for row in message.rows}
        order = list(rows)
        table = self.query_one(DataTable)
        if order == self._order:
            # Same threads in the same order: touch only the cells that changed (no flicker, no jump).
            for key, row in rows.items():
                if row != self._rows.get(key):
                    for column, cell in zip(KEYS, self._cells(row, now), strict=True):
                        table.update_cell(key, column, cell)
        else:
            keep = self.selected_key()
            scroll = table.scroll_y
            table.clear()
            for key, row in rows.items():
                table.add_row(*self._cells(row, now), key=key)
            if keep in rows:
                table.move_cursor(row=order.index(keep), animate=False, scroll=False)
            table.scroll_to(y=scroll, animate=False)
        self._rows, self._order = rows, order
        self._counts, self._status = message.counts, message.status
        self._alert_new_critical(message.rows, first)
        self._refresh_applicable()
        self._show_views()
        self._show_title()
        self._show_preview()

    def _alert_new_critical(self, rows: list[InboxRow], first: bool) -> None:
        """A critical complaint spreads fast: ring the bell and flash the header the moment one arrives."""
        critical = {row.thread_id for row in rows if row.tier == "critical"}
        fresh = critical - self._critical_seen
        self._critical_seen |= critical
        if first or not fresh:
            return
        self.app.bell()
        header = self.query_one(DeskHeader)
        header.add_class("flash")
        self.set_timer(1.5, lambda: header.remove_class("flash"))
        notify_literal(
            self, f"{len(fresh)} new critical thread{'s' if len(fresh) > 1 else ''}", severity="error"
        )

    def on_filter_failed(self, message: FilterFailed) -> None:
        if message.filters == self.filters:
            self.query_one(FilterBar).refused(message.reason)

    def on_status_tick(self, message: StatusTick) -> None:
        self._status = message.status
        self._show_title()

    def _cells(self, row: InboxRow, now: datetime) -> tuple[Text, ...]:
        who = row.customer or row.handle
        if row.handle and row.customer != row.handle:
            who = f"{row.customer} @{row.handle}"
        message = literal(row.text, SENTIMENT_STYLES.get(row.sentiment or "", ""), one_line=True)
        if row.draft:
            # My unsent reply waits on this thread (kept in the store until sent or discarded).
            message = Text.assemble(("✎ draft ", "bold yellow"), message)
        message.truncate(self._width, overflow="ellipsis")
        customer = literal(who, one_line=True)
        customer.truncate(16, overflow="ellipsis")
        status = Text(row.status)
        if row.snooze_until_reply or (row.snoozed_until and row.snoozed_until > now):
            status = Text("snoozed", style="italic")
        owner = literal(row.assignee or "", "bold" if row.assignee == self.earful.desk.responder else "")
        for viewer in row.viewers:
            # Someone has this thread open right now: say so before two people answer it.
            owner.append(" ◉", style="magenta")
            owner.append_text(literal(viewer, "magenta", one_line=True))
        owner.truncate(10, overflow="ellipsis")
        return (
            Text("●", style="bold magenta") if row.thread_id in self.selected else Text(" "),
            urgency_badge(row.tier, row.urgency),
            time_left(row.sla_due_at, now),
            Text(*NETWORK_MARK.get(row.network, (row.network[:1], ""))),
            status,
            owner,
            customer,
            message,
        )

    def _message_width(self) -> int:
        """What the fixed columns leave of the table's width (each cell has one space of padding each side)."""
        width = self.query_one(DataTable).size.width or self.app.size.width - 24
        fixed = sum(w or 0 for _, _, w in COLUMNS) + 2 * len(COLUMNS) + 2
        return max(20, width - fixed)

    def on_resize(self, _event: events.Resize) -> None:
        # Message cells were cut to the old width: redraw them all at the new one.
        self._order = []
        self.reload(force=True)

    def _show_views(self) -> None:
        text = Text()
        for i, name in enumerate(VIEW_NAMES, start=1):
            style = "bold reverse" if name == self.view_name else ""
            text.append(f"{i} {name:<10}{self._counts.get(name, 0):>5}\n", style=style)
        if self.filters:
            text.append("\nfiltered\n", style="bold yellow")
            text.append_text(literal(self.filters.describe(), "yellow"))
        self.query_one("#views", Static).update(text, layout=False)

    def _show_title(self) -> None:
        title = Text("earful", style="bold")
        total = self._counts.get(self.view_name, len(self._rows))
        shown = f"{len(self._rows)} of {total:,}" if total > len(self._rows) else f"{len(self._rows)}"
        title.append(f"  {self.view_name}: {shown} threads")
        if self.selected:
            title.append(f"  {len(self.selected)} selected", style="bold magenta")
        self.query_one(DeskHeader).show_title(title)
        # What the sources say (a server's own health details among it): shown, never run.
        self.query_one("#status", Static).update(literal(self._status, "dim"), layout=False)

    def _show_preview(self) -> None:
        row = self._rows.get(self.selected_key() or "")
        preview = self.query_one("#preview", Static)
        if row is None:
            empty = "Nothing here yet: new mentions appear as they arrive."
            if self.filters:
                empty = "No thread matches the filter (/ then enter on an empty line clears it)."
            preview.update(Text(empty, style="dim"), layout=False)
            return
        text = Text()
        if row.handle:
            text.append_text(literal(f"@{row.handle}", "bold", one_line=True))
            text.append(" ")
        text.append_text(
            literal(
                f"on {row.network} ({row.followers:,} followers) · {row.brand} · "
                f"{row.mention_count} message{'s' if row.mention_count != 1 else ''}",
                "dim",
                one_line=True,
            )
        )
        if row.awaiting_since is not None:
            text.append(f" · waiting {ago(row.awaiting_since, self.earful.desk.clock())}", style="dim")
        if row.tags:
            text.append("  ")
            text.append_text(literal(" ".join(f"#{tag}" for tag in row.tags), "cyan", one_line=True))
        if row.snoozed_until or row.snooze_until_reply:
            until = "they write again" if row.snooze_until_reply else f"{row.snoozed_until:%a %H:%M} UTC"
            text.append(f"  snoozed until {until}", style="italic")
        text.append("\n")
        # Above the text, which may run past the pane's last line.
        if row.explanation or row.risks:
            text.append_text(why(row.explanation, row.risks))
            text.append("\n")
        text.append_text(literal(row.text))
        # Fixed-size panes: a new text needs a repaint, not a new layout of the whole screen.
        preview.update(text, layout=False)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_preview()

    def _refresh_applicable(self) -> None:
        """What applies (open, claim, clear...) depends only on whether a thread is under the cursor and whether
        anything is selected. The footer is rebuilt only when that changes: rebuilding it on every cursor move
        cost more than the move itself."""
        state = (self.selected_thread() is not None, bool(self.selected))
        if state != self._applicable:
            self._applicable = state
            self.refresh_bindings()

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
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

    def targets(self) -> list[int]:
        """What an action applies to: the selection, or else the thread under the cursor."""
        if self.selected:
            return sorted(self.selected)
        current = self.selected_thread()
        return [current] if current is not None else []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"open_thread", "reply", "customer", "toggle_select"}:
            return self.selected_thread() is not None
        if action in {"claim", "assign", "resolve", "move", "snooze", "tag", "wake"}:
            return bool(self.targets())
        if action == "clear":
            return bool(self.selected) or self.query_one("#filter", Input).has_focus
        return True

    # Movement ---------------------------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()

    def action_cursor_top(self) -> None:
        self.query_one(DataTable).move_cursor(row=0)

    def action_cursor_bottom(self) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=max(table.row_count - 1, 0))

    def _half_page(self, sign: int) -> None:
        table = self.query_one(DataTable)
        step = max(table.scrollable_content_region.height // 2, 1)
        table.move_cursor(row=min(max(table.cursor_row + sign * step, 0), max(table.row_count - 1, 0)))

    def action_page_down(self) -> None:
        self._half_page(1)

    def action_page_up(self) -> None:
        self._half_page(-1)

    def _go_to_view(self, name: str) -> None:
        self.view_name = name
        self.reload(force=True)
        self._show_views()

    def action_next_view(self) -> None:
        self._go_to_view(VIEW_NAMES[(VIEW_NAMES.index(self.view_name) + 1) % len(VIEW_NAMES)])

    def action_previous_view(self) -> None:
        self._go_to_view(VIEW_NAMES[(VIEW_NAMES.index(self.view_name) - 1) % len(VIEW_NAMES)])

    def action_view(self, number: int) -> None:
        if 1 <= number <= len(VIEW_NAMES):
            self._go_to_view(VIEW_NAMES[number - 1])

    # Selection and filter ---------------------------------------------------------------------------------

    def action_toggle_select(self) -> None:
        thread_id = self.selected_thread()
        if thread_id is None:
            return
        self.selected ^= {thread_id}
        self._refresh_marks()
        self.action_cursor_down()

    def action_select_all(self) -> None:
        shown = {row.thread_id for row in self._rows.values()}
        self.selected = set() if shown <= self.selected else self.selected | shown
        self._refresh_marks()

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus:
            self.query_one(DataTable).focus()
            return
        self.selected.clear()
        self._refresh_marks()

    def _refresh_marks(self) -> None:
        table = self.query_one(DataTable)
        for key, row in self._rows.items():
            mark = Text("●", style="bold magenta") if row.thread_id in self.selected else Text(" ")
            table.update_cell(key, "sel", mark)
        self._show_title()
        self._refresh_applicable()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def on_filter_bar_applied(self, message: FilterBar.Applied) -> None:
        self.filters, self._refused = message.filters, None
        self.query_one(DataTable).focus()
        self.reload(force=True)
        self._show_views()

    def on_key(self, event: events.Key) -> None:
        # Escape in the filter box goes back to the list, keeping what was typed for the next "/".
        if event.key == "escape" and self.query_one("#filter", Input).has_focus:
            event.stop()
            self.query_one(DataTable).focus()

    # Actions ----------------------------------------------------------------------------------------------

    def action_open_thread(self, compose: bool = False) -> None:
        thread_id = self.selected_thread()
        if thread_id is not None:
            self.earful.open_thread(thread_id, compose=compose)

    def action_reply(self) -> None:
        self.action_open_thread(compose=True)

    def action_customer(self) -> None:
        if (thread_id := self.selected_thread()) is not None:
            self.earful.open_customer_of(thread_id)

    def known_names(self) -> list[str]:
        # Offered as typed-ahead text: as the store keeps names now, whatever a row written before holds.
        names = {row.assignee for row in self._rows.values() if row.assignee}
        names |= {viewer for row in self._rows.values() for viewer in row.viewers}
        return sorted({one_line(name) for name in names} - {""})

    def known_tags(self) -> list[str]:
        return sorted({one_line(tag) for row in self._rows.values() for tag in row.tags} - {""})

    def acted(self, text: str, severity: str, *, put_away: bool) -> None:
        super().acted(text, severity, put_away=put_away)
        if severity != "error":
            self.selected.clear()
        self.reload(force=True)
