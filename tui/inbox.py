"""The inbox: threads most urgent first, views with live counts, filters, multi-select and bulk actions.

The cursor belongs to a thread, not to a row number: live updates keep it on its thread wherever that thread
moves, and when its thread leaves the list (resolved, snoozed, by me or a colleague) it goes to the next thread
below, or above when it was the last. The selection is kept the same way. Any number of threads can be reached:
the list is a window of the view, paged by keyset as the cursor nears its edge (tui.inbox_window).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

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
from tui import inbox_window as paging
from tui.actions import TriageActions, database_trouble, query_fault
from tui.commands import INBOX, bindings
from tui.filter_bar import FilterBar
from tui.header import DeskHeader
from tui.inbox_layout import (
    COLUMNS,
    NARROW,
    column_widths,
    sidebar_text,
    table_width,
    view_strip,
)
from tui.inbox_window import Span, Window
from tui.text import (
    SENTIMENT_STYLES,
    ago,
    handle_text,
    literal,
    notify_literal,
    plural,
    time_left,
    urgency_badge,
    why,
)

KEYS = tuple(key for _, key, _ in COLUMNS)
SELECTED, STATUS, OWNER, CUSTOMER, MESSAGE = (
    KEYS.index(k) for k in ("sel", "status", "owner", "customer", "message")
)
# One letter per network in the list (the preview spells it out), each in a colour of its own.
NETWORK_MARK = {
    "x": ("x", "bold"),
    "mastodon": ("m", "bold #8c8dff"),
    "bluesky": ("b", "bold #1185fe"),
    "reddit": ("r", "bold #ff4500"),
}
VIEW_NAMES = list(VIEWS)
# A snooze that runs out changes nothing in the store, so the inbox also reloads on this beat.
FORCED_RELOAD_SECONDS = 15.0
ACTIVITY_SECONDS = 10.0


@dataclass
class Loaded(Message):
    # The window asked for (a reply to an older question is dropped), and what was read.
    asked: Span
    view: str
    filters: InboxFilter
    window: Window
    counts: dict[str, int]
    status: str


@dataclass
class PageLoaded(Message):
    asked: Span
    down: bool
    rows: list[InboxRow]


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
        # A filter with an error (the reason) or one the database refused: the list shows nothing under it.
        self._invalid: str | None = None
        self._refused: InboxFilter | None = None
        self.selected: set[int] = set()
        self._rows: dict[str, InboxRow] = {}
        self._order: list[str] = []
        self._span = Span("top", paging.PAGE)
        self._window = Window(self._span, [], True, True, 0)
        # Where the cursor goes on the next load: onto its thread ("keep"), the first row, or the last.
        self._goal = "keep"
        self._paging = False
        # Read by the loading thread: the thread under the cursor, kept in a window that grew above it.
        self._cursor_id: int | None = None
        self._counts: dict[str, int] = {}
        self._status = ""
        self._seen_change: datetime | None = None
        self._loaded_span: Span | None = None
        self._loaded_at = 0.0
        self._loaded_once = False
        self._critical_seen: set[int] = set()
        self._applicable: tuple[bool, bool] | None = None
        self._widths = column_widths(table_width(80))

    def compose(self) -> ComposeResult:
        yield DeskHeader()
        yield Static(id="status")
        yield Static(id="viewbar")
        with Horizontal(id="body"):
            yield Static(id="views")
            with Vertical(id="main"):
                yield FilterBar()
                yield DataTable(id="threads", cursor_type="row", zebra_stripes=True)
                yield Static(id="preview")
        narrow = self.app.size.width < NARROW
        yield Footer(compact=narrow, show_command_palette=not narrow)

    def on_mount(self) -> None:
        self._lay_out(self.app.size.width)
        self.query_one(DataTable).focus()
        self.reload(force=True)
        self.load_activity()
        self.set_interval(self.earful.refresh_seconds, self.reload)
        self.set_interval(ACTIVITY_SECONDS, self.load_activity)

    def on_screen_resume(self) -> None:
        self.reload(force=True)

    # Loading runs in a thread: the database may be slow, the keyboard must not be.
    @work(thread=True, exclusive=True, group="inbox-load")
    def reload(self, force: bool = False) -> None:
        filters = self.filters
        try:
            self._reload(force, self._span, self.view_name, filters)
        except (DBAPIError, StoreUnavailable) as exc:
            self._seen_change = None
            if filters and query_fault(exc):
                self._refused = filters
                self.post_message(FilterFailed(filters, database_trouble(exc)))
                return
            # The desk stays up and keeps what it shows; the next beat tries again.
            self.post_message(StatusTick(f"database unavailable: {database_trouble(exc)} (retrying)"))

    def _reload(self, force: bool, span: Span, view: str, filters: InboxFilter) -> None:
        desk = self.earful.desk
        if self._invalid is not None or (self._refused is not None and self._refused == filters):
            self.post_message(StatusTick(self.earful.status_line()))
            return
        change = desk.last_change()
        now = datetime.now(UTC).timestamp()
        stale = now - self._loaded_at >= FORCED_RELOAD_SECONDS
        same = self._loaded_once and change == self._seen_change and span == self._loaded_span
        if not force and not stale and same:
            self.post_message(StatusTick(self.earful.status_line()))
            return
        self._loaded_at = now
        counts = desk.counts(filters)
        total = counts.get(view, 0)
        window = paging.read(desk, view, filters, span, total)
        keep = self._cursor_id
        missing = keep is not None and all(row.thread_id != keep for row in window.rows)
        if missing and not window.at_end and span.count < paging.MAX_ROWS:
            # Threads arriving above may have pushed the cursor's thread below the window: read a page more.
            wider = paging.read(desk, view, filters, replace(span, count=span.count + paging.PAGE), total)
            if any(row.thread_id == keep for row in wider.rows):
                window = wider
        self.post_message(Loaded(span, view, filters, window, counts, self.earful.status_line()))
        self._seen_change, self._loaded_span = change, window.span

    @work(thread=True, exclusive=True, group="inbox-page", exit_on_error=False)
    def load_page(self, down: bool) -> None:
        desk, window, span = self.earful.desk, self._window, self._span
        try:
            if down:
                rows = paging.next_page(desk, self.view_name, self.filters, window)
            else:
                rows = paging.previous_page(desk, self.view_name, self.filters, window)
        except (DBAPIError, StoreUnavailable) as exc:
            self.post_message(StatusTick(f"database unavailable: {database_trouble(exc)} (retrying)"))
            rows = []
        self.post_message(PageLoaded(span, down, rows))

    @work(thread=True, exclusive=True, group="inbox-activity", exit_on_error=False)
    def load_activity(self) -> None:
        self.post_message(ActivityLoaded(self.earful.desk.activity(24)))

    def on_activity_loaded(self, message: ActivityLoaded) -> None:
        self.query_one(DeskHeader).show_activity(
            [b.inbound for b in message.buckets], [b.sentiment for b in message.buckets]
        )

    def on_loaded(self, message: Loaded) -> None:
        if (message.asked, message.view, message.filters) != (self._span, self.view_name, self.filters):
            return  # asked before the window, the view or the filter changed: a newer answer is on its way
        if self._invalid is not None:
            return
        first = not self._loaded_once
        self._loaded_once = True
        self._counts, self._status = message.counts, message.status
        self._show(message.window)
        self._alert_new_critical(message.window.rows, first)

    def on_page_loaded(self, message: PageLoaded) -> None:
        self._paging = False
        if message.asked != self._span or self._invalid is not None:
            return
        grow = paging.grown_down if message.down else paging.grown_up
        if message.down and not message.rows:
            self._window.at_end = True
        elif not message.down and not message.rows:
            self._window.at_top = True
        else:
            self._show(grow(self._window, message.rows))

    def _show(self, window: Window) -> None:
        """Put the window on screen, the cursor on its thread (or where the goal says), the selection kept."""
        self._window, self._span = window, window.span
        now = self.earful.desk.clock()
        rows = {str(row.thread_id): row for row in window.rows}
        order = list(rows)
        table = self.query_one(DataTable)
        keep, old_order, old_row = self.selected_key(), self._order, table.cursor_row
        # A selected thread that left the list is no longer a target: an action never reaches what is not shown.
        self.selected &= {row.thread_id for row in window.rows}
        if order[: len(old_order)] == old_order and old_order and self._goal == "keep":
            # The same threads in the same order, maybe a page more: touch only what changed (no flicker, no jump).
            for key in old_order:
                if rows[key] != self._rows.get(key):
                    for column, cell in zip(KEYS, self._cells(rows[key], now), strict=True):
                        table.update_cell(key, column, cell)
            self._rows = rows
            for key in order[len(old_order) :]:
                table.add_row(*self._cells(rows[key], now), key=key)
        else:
            target = 0
            if self._goal == "last":
                target = len(order) - 1
            elif self._goal == "keep" and keep is not None:
                follow = keep if keep in rows else self._successor(int(keep), window.rows)
                target = order.index(follow) if follow is not None else min(old_row, len(order) - 1)
            scroll = table.scroll_y
            self._rows = rows
            table.clear()
            for key in order:
                table.add_row(*self._cells(rows[key], now), key=key)
            if order:
                table.move_cursor(row=max(target, 0), animate=False, scroll=False)
                if self._goal == "keep":
                    # The cursor keeps its place on the screen while rows arrive above it.
                    table.scroll_to(y=max(scroll + target - old_row, 0), animate=False, immediate=True)
                else:
                    table.move_cursor(row=max(target, 0), animate=False, scroll=True)
        self._order, self._goal = order, "keep"
        self._cursor_id = self.selected_thread()
        self._refresh_applicable()
        self._show_views()
        self._show_title()
        self._show_preview()
        self._page_if_near_an_edge()

    def _successor(self, gone: int, rows: list[InboxRow]) -> str | None:
        found = paging.successor([self._rows[key] for key in self._order if key in self._rows], gone, rows)
        return None if found is None else str(found)

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
        notify_literal(self, f"{plural(len(fresh), 'new critical thread')}", severity="error")

    def on_filter_failed(self, message: FilterFailed) -> None:
        if message.filters == self.filters:
            self.query_one(FilterBar).refused(message.reason)
            self._empty_list()

    def on_status_tick(self, message: StatusTick) -> None:
        self._status = message.status
        self._show_title()

    def _cells(self, row: InboxRow, now: datetime) -> tuple[Text, ...]:
        handle = handle_text(row.network, row.handle)
        # A record named after the handle shows the handle once, written as its network writes it.
        who = handle or row.customer
        if row.customer and row.customer != row.handle:
            who = f"{row.customer} {handle}".strip()
        message = literal(row.text, SENTIMENT_STYLES.get(row.sentiment or "", ""), one_line=True)
        if row.draft:
            # My unsent reply waits on this thread (kept in the store until sent or discarded).
            message = Text.assemble(("✎ draft ", "bold yellow"), message)
        message.truncate(self._widths["message"], overflow="ellipsis")
        customer = literal(who, one_line=True)
        customer.truncate(self._widths["customer"], overflow="ellipsis")
        status = Text(row.status)
        if row.snooze_until_reply or (row.snoozed_until and row.snoozed_until > now):
            status = Text("snoozed", style="italic")
        owner = literal(row.assignee or "", "bold" if row.assignee == self.earful.desk.responder else "")
        for viewer in row.viewers:
            # Someone has this thread open right now: say so before two people answer it.
            owner.append(" ◉", style="magenta")
            owner.append_text(literal(viewer, "magenta", one_line=True))
        owner.truncate(self._widths["owner"], overflow="ellipsis")
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

    # Layout -----------------------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out(event.size.width)

    def _lay_out(self, width: int) -> None:
        """The sidebar folds into a line below NARROW columns; the columns take widths that grow with the window."""
        self.set_class(width < NARROW, "-narrow")
        footer = self.query_one(Footer)
        if footer.compact != (width < NARROW):
            # Narrow: less space between keys, and ctrl+p (which still works) makes room for one more key.
            footer.compact = width < NARROW
            footer.show_command_palette = width >= NARROW
            footer.refresh(recompose=True)  # the keys keep their old widths otherwise
        widths = column_widths(table_width(width))
        table = self.query_one(DataTable)
        if widths == self._widths and table.columns:
            return
        self._widths = widths
        keep = self.selected_key()
        table.clear(columns=True)
        for label, key, _ in COLUMNS:
            table.add_column(label, key=key, width=widths[key])
        # Cells were cut to the old widths: drawn again at the new ones.
        now = self.earful.desk.clock()
        for key, row in self._rows.items():
            table.add_row(*self._cells(row, now), key=key)
        if keep in self._rows:
            table.move_cursor(row=self._order.index(keep), animate=False)

    def _show_views(self) -> None:
        described = None if self._invalid is not None else self.filters.describe()
        counts = {} if self._invalid is not None else self._counts
        self.query_one("#views", Static).update(
            sidebar_text(VIEW_NAMES, self.view_name, counts, described), layout=False
        )
        self.query_one("#viewbar", Static).update(
            view_strip(VIEW_NAMES, self.view_name, counts, described), layout=False
        )

    def _show_title(self) -> None:
        title = Text("earful", style="bold")
        total = self._counts.get(self.view_name, len(self._rows))
        if self._invalid is not None:
            title.append(f"  {self.view_name}: filter not applied", style="bold red")
        elif total > len(self._rows) and self._rows:
            at = self._window.offset + self.query_one(DataTable).cursor_row + 1
            title.append(f"  {self.view_name}: {at:,} of {plural(total, 'thread')}")
        else:
            title.append(f"  {self.view_name}: {plural(total, 'thread')}")
        if self.selected:
            title.append(f"  {len(self.selected)} selected", style="bold magenta")
        self.query_one(DeskHeader).show_title(title)
        # What the sources say (a server's own health details among it): shown, never run.
        status = self.query_one("#status", Static)
        status.update(literal(self._status, "dim", one_line=True), layout=False)
        status.display = bool(self._status)

    def _show_preview(self) -> None:
        row = self._rows.get(self.selected_key() or "")
        preview = self.query_one("#preview", Static)
        if row is None:
            empty = "Nothing here yet: new mentions appear as they arrive."
            if self._invalid is not None:
                empty = "The filter has an error (said above the list): nothing is shown until it is fixed."
            elif self.filters:
                empty = "No thread matches the filter (/ then enter on an empty line clears it)."
            preview.update(Text(empty, style="dim"), layout=False)
            return
        text = Text()
        if row.handle:
            text.append_text(literal(handle_text(row.network, row.handle), "bold", one_line=True))
            text.append(" ")
        text.append_text(
            literal(
                f"on {row.network} ({plural(row.followers, 'follower')}) · {row.brand} · "
                f"{plural(row.mention_count, 'message')}",
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
        self._cursor_id = self.selected_thread()
        self._show_preview()
        self._show_title()
        self._page_if_near_an_edge()

    def _page_if_near_an_edge(self) -> None:
        table, window = self.query_one(DataTable), self._window
        if self._paging or not table.row_count:
            return
        if not window.at_end and table.cursor_row >= table.row_count - paging.NEAR:
            self._paging = True
            self.load_page(True)
        elif not window.at_top and table.cursor_row < paging.NEAR:
            self._paging = True
            self.load_page(False)

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
        if self._window.at_top:
            self.query_one(DataTable).move_cursor(row=0)
        else:
            self._read_anew(Span("top", paging.PAGE), "first")

    def action_cursor_bottom(self) -> None:
        """The view's true last thread, however far down: the list reads the view's last page."""
        table = self.query_one(DataTable)
        if self._window.at_end:
            table.move_cursor(row=max(table.row_count - 1, 0))
        else:
            self._read_anew(Span("end", paging.PAGE), "last")

    def _read_anew(self, span: Span, goal: str) -> None:
        self._span, self._goal, self._paging = span, goal, False
        self.reload(force=True)

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
        self._read_anew(Span("top", paging.PAGE), "first")
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
        self.filters, self._refused, self._invalid = message.filters, None, None
        self.query_one(DataTable).focus()
        self._read_anew(Span("top", paging.PAGE), "first")
        self._show_views()

    def on_filter_bar_invalid(self, message: FilterBar.Invalid) -> None:
        """What the box says is not what the list shows: the list is emptied rather than left under it."""
        self._invalid = message.reason
        self._empty_list()

    def _empty_list(self) -> None:
        self.selected.clear()
        self._rows, self._order = {}, []
        self._window = Window(self._span, [], True, True, 0)
        self.query_one(DataTable).clear()
        self._refresh_applicable()
        self._show_views()
        self._show_title()
        self._show_preview()

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

    def holders(self) -> list[str]:
        """Who holds the threads an action applies to (shown by the assign picker)."""
        found = {self._rows[str(t)].assignee for t in self.targets() if str(t) in self._rows}
        return sorted({one_line(name) for name in found if name})

    def known_tags(self) -> list[str]:
        return sorted({one_line(tag) for row in self._rows.values() for tag in row.tags} - {""})

    def acted(self, text: str, severity: str, *, put_away: bool) -> None:
        super().acted(text, severity, put_away=put_away)
        if severity != "error":
            self.selected.clear()
        self.reload(force=True)
