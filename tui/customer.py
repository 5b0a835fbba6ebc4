"""One customer across networks: identities, every thread, lifetime figures, notes, and merge suggestions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static, TextArea

from responders.customers import CustomerBook, CustomerView, MergeSuggestion
from store.models import Identity, Thread
from tui.commands import CUSTOMER, bindings
from tui.pickers import _Picker
from tui.text import handle_text, literal, notify_literal, plural, tier_badge

if TYPE_CHECKING:
    from tui.app import EarfulApp


@dataclass
class CustomerLoaded(Message):
    view: CustomerView | None


class CustomerScreen(Screen[None]):
    CSS_PATH = "customer.tcss"
    COMMANDS_DECLARED = CUSTOMER
    BINDINGS = bindings(CUSTOMER)
    HELP_TITLE = "Customer record"

    def __init__(self, customer_id: int) -> None:
        super().__init__()
        self.customer_id = customer_id
        self.view: CustomerView | None = None
        self._seen_change: datetime | None = None

    @property
    def earful(self) -> EarfulApp:
        return self.app  # type: ignore[return-value]

    @property
    def book(self) -> CustomerBook:
        # Set on the app by its factory (earful.app.make_tui); tests set it themselves.
        return cast(CustomerBook, cast(Any, self.app).customers)

    def compose(self) -> ComposeResult:
        yield Static(id="customer-title")
        with Horizontal(id="customer-body"):
            with Vertical(id="customer-main"):
                yield Static(Text("Identities", style="bold underline"), classes="heading")
                yield DataTable(id="identities", cursor_type="row")
                yield Static(id="threads-heading", classes="heading")
                yield DataTable(id="threads", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="customer-side"):
                yield Static(id="customer-stats")
                yield Static(id="customer-notes")
                yield Static(Text("Merge suggestions (M merges)", style="bold underline"), classes="heading")
                yield DataTable(id="suggestions", cursor_type="row")
                yield Static(id="customer-merges")
        yield Footer()

    def on_mount(self) -> None:
        for table, columns in (
            ("#identities", ("Net", "Handle", "Name", "Followers")),
            ("#threads", ("Date", "Net", "Status", "Tier", "Urg", "Latest message")),
            ("#suggestions", ("Customer", "Why")),
        ):
            self.query_one(table, DataTable).add_columns(*columns)
        self.query_one("#threads", DataTable).focus()
        self.load()
        self.set_interval(self.earful.refresh_seconds, self._poll)

    @work(thread=True, exclusive=True, group="customer-load", exit_on_error=False)
    def load(self) -> None:
        self._seen_change = self.earful.desk.last_change()
        self.post_message(CustomerLoaded(self.book.view(self.customer_id)))

    @work(thread=True, exclusive=True, group="customer-poll", exit_on_error=False)
    def _poll(self) -> None:
        # New messages or thread changes anywhere move this clock; the record is reread only then.
        if self.earful.desk.last_change() != self._seen_change:
            self.load()

    def on_customer_loaded(self, message: CustomerLoaded) -> None:
        view = message.view
        if view is None:
            notify_literal(self, f"Customer {self.customer_id} no longer exists", severity="error")
            self.dismiss()
            return
        if view.customer.id != self.customer_id:
            notify_literal(self, "That record was merged: showing the one it was merged into", timeout=4)
            self.customer_id = view.customer.id or self.customer_id
        self.view = view
        self.query_one("#customer-title", Static).update(title_text(view))
        self.query_one("#customer-stats", Static).update(stats_text(view))
        self.query_one("#customer-notes", Static).update(notes_text(view))
        self.query_one("#customer-merges", Static).update(merges_text(view))
        heading = Text(f"Threads ({len(view.threads):,})", style="bold underline")
        heading.append("  enter opens one", style="dim")
        self.query_one("#threads-heading", Static).update(heading)
        _fill(
            self.query_one("#identities", DataTable),
            [(str(i.id), identity_cells(i)) for i in view.identities],
        )
        threads = [(str(t.id), thread_cells(t, view.latest_text.get(t.id or 0, ""))) for t in view.threads]
        _fill(self.query_one("#threads", DataTable), threads)
        suggestions = [(str(s.customer.id), suggestion_cells(s)) for s in view.suggestions]
        _fill(self.query_one("#suggestions", DataTable), suggestions)

    # -- actions -------------------------------------------------------------------------------------------------

    def _highlighted(self, table_id: str) -> int | None:
        table = self.query_one(table_id, DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def action_open_thread(self) -> None:
        thread_id = self._highlighted("#threads")
        if thread_id is not None:
            self.earful.open_thread(thread_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "threads" and event.row_key.value is not None:
            self.earful.open_thread(int(event.row_key.value))

    def action_edit_notes(self) -> None:
        if self.view is None:
            return
        customer_id = self.customer_id

        def save(notes: str | None) -> None:
            if notes is not None:
                self._act("Notes saved", lambda: self.book.update(customer_id, notes=notes))

        self.app.push_screen(
            EditText("Notes (ctrl+s saves, escape cancels)", self.view.customer.notes, multiline=True), save
        )

    def action_edit_tags(self) -> None:
        if self.view is None:
            return
        customer_id = self.customer_id

        def save(tags: str | None) -> None:
            if tags is not None:
                words = tags.replace(";", ",").split(",")
                self._act("Tags saved", lambda: self.book.update(customer_id, tags=words))

        current = ", ".join(self.view.customer.tags)
        self.app.push_screen(EditText("Tags, comma-separated (enter saves, empty clears)", current), save)

    def action_set_tier(self) -> None:
        if self.view is None:
            return
        customer_id = self.customer_id

        def chosen(tier: str | None) -> None:
            if tier:
                self._act(f"Tier set to {tier}", lambda: self.book.update(customer_id, tier=tier))

        self.app.push_screen(TierPicker(self.book.tiers, self.view.customer.tier), chosen)

    def action_merge(self) -> None:
        other = self._highlighted("#suggestions")
        if self.view is None or other is None:
            notify_literal(self, "No merge suggestion to merge", severity="warning")
            return
        suggestion = next(s for s in self.view.suggestions if s.customer.id == other)
        # Two records of one name: each is named with its accounts, so the responder sees which goes where.
        question = Text("Merge ")
        question.append_text(record_text(suggestion.customer.display_name, suggestion.identities))
        question.append("\ninto ")
        question.append_text(record_text(self.view.customer.display_name, self.view.identities))
        question.append("?\nTheir identities and threads move here; U undoes it.")
        into = self.customer_id
        self._confirm(question, "Merged", lambda: self.book.merge(into, other))

    def action_unmerge(self) -> None:
        if self.view is None or not self.view.merges:
            notify_literal(self, "No merge into this record to undo", severity="warning")
            return
        merge = self.view.merges[0]
        source = self.view.merged_from.get(merge.from_customer_id)
        question = Text("Unmerge ")
        question.append_text(
            literal(source.display_name if source else f"#{merge.from_customer_id}", "bold", one_line=True)
        )
        question.append(
            f"?\n{plural(len(merge.identity_ids), 'identity', 'identities')} and their threads go back."
        )
        merge_id = merge.id or 0
        self._confirm(question, "Unmerged", lambda: self.book.unmerge(merge_id))

    def action_detach(self) -> None:
        identity_id = self._highlighted("#identities")
        if self.view is None or identity_id is None:
            return
        identity = next(i for i in self.view.identities if i.id == identity_id)
        question = Text("Detach ")
        question.append_text(literal(account(identity), "bold", one_line=True))
        question.append("?\nIt gets a record of its own, with the threads it started.")
        self._confirm(question, "Detached to a record of its own", lambda: self.book.detach(identity_id))

    def action_back(self) -> None:
        self.dismiss()

    def action_cursor_down(self) -> None:
        if isinstance(self.focused, DataTable):
            self.focused.action_cursor_down()

    def action_cursor_up(self) -> None:
        if isinstance(self.focused, DataTable):
            self.focused.action_cursor_up()

    def _confirm(self, question: Text, done: str, call: Callable[[], object]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._act(done, call)

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, group="customer-act")
    def _act(self, done: str, call: Callable[[], object]) -> None:
        try:
            call()
        except ValueError as exc:
            # The reason may quote a handle or a name: shown as written, never as markup.
            self.app.call_from_thread(notify_literal, self, str(exc), severity="warning", timeout=8)
            return
        self.app.call_from_thread(notify_literal, self, done, timeout=3)
        self.app.call_from_thread(self.load)


def _fill(table: DataTable[Any], rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
    """Replace the rows, keeping the cursor on the same record when it is still there."""
    keep = None
    if table.row_count:
        keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    keys = [key for key, _ in rows]
    if keep in keys:
        table.move_cursor(row=keys.index(keep), animate=False)


def identity_cells(identity: Identity) -> tuple[Text, ...]:
    return (
        Text(identity.network),
        literal(handle_text(identity.network, identity.handle), "bold", one_line=True),
        literal(identity.display_name, one_line=True),
        Text(f"{identity.followers:,}", justify="right"),
    )


def thread_cells(thread: Thread, latest: str) -> tuple[Text, ...]:
    # The first line only: one row per thread, whatever the customer wrote.
    message = literal(latest.strip().split("\n", 1)[0], one_line=True)
    message.truncate(60, overflow="ellipsis")
    return (
        Text(f"{thread.last_activity_at:%Y-%m-%d}"),
        Text(thread.network),
        Text(thread.status),
        tier_badge(thread.tier),
        Text(str(thread.urgency), justify="right"),
        message,
    )


def suggestion_cells(suggestion: MergeSuggestion) -> tuple[Text, ...]:
    name = literal(suggestion.customer.display_name or "(no name)", "bold", one_line=True)
    networks = sorted({identity.network for identity in suggestion.identities})
    if networks:
        name.append(f" ({', '.join(networks)})", style="dim")
    return (name, literal("; ".join(suggestion.reasons), one_line=True))


def account(identity: Identity) -> str:
    """`x @jane`, `reddit u/jane`: one account as its network names it."""
    return f"{identity.network} {handle_text(identity.network, identity.handle)}".strip()


def record_text(name: str, identities: Sequence[Identity]) -> Text:
    """`Avery Moreau (x @avery, mastodon @avery@mstdn.social)`: a record, told apart by its accounts."""
    text = literal(name or "(no name)", "bold", one_line=True)
    accounts = [account(identity) for identity in identities]
    shown = ", ".join(accounts[:4]) + (
        f", {plural(len(accounts) - 4, 'more account')}" if len(accounts) > 4 else ""
    )
    text.append(" (")
    text.append_text(literal(shown or "no account yet", one_line=True))
    text.append(")")
    return text


def title_text(view: CustomerView) -> Text:
    customer = view.customer
    title = literal(customer.display_name or "(no name)", "bold", one_line=True)
    title.append(f"  tier {customer.tier}", style="bold magenta" if customer.tier != "standard" else "dim")
    if customer.email:
        title.append("  ")
        title.append_text(literal(customer.email, one_line=True))
    if customer.external_id:
        title.append("  CRM ", style="dim")
        title.append_text(literal(customer.external_id, one_line=True))
    title.append(f"  since {customer.created_at:%Y-%m-%d}", style="dim")
    if customer.tags:
        title.append("\ntags ", style="dim")
        title.append_text(literal(", ".join(customer.tags), "cyan", one_line=True))
    return title


def stats_text(view: CustomerView) -> Text:
    stats = view.stats
    text = Text("Lifetime\n", style="bold underline")
    statuses = ", ".join(f"{n} {status}" for status, n in stats.by_status.items())
    text.append(f"{plural(stats.threads, 'thread')}{': ' + statuses if statuses else ''}\n")
    text.append(plural(stats.complaints, "complaint"), style="bold red" if stats.complaints else "")
    if stats.mean_sentiment is not None:
        style = "green" if stats.mean_sentiment > 0.2 else "red" if stats.mean_sentiment < -0.2 else ""
        text.append(" · sentiment ")
        text.append(f"{stats.mean_sentiment:+.2f}", style=style)
    text.append(f"\non {', '.join(stats.networks) or 'no network yet'}\n", style="dim")
    if stats.first_seen and stats.last_seen:
        text.append(f"first {stats.first_seen:%Y-%m-%d} · last {stats.last_seen:%Y-%m-%d}\n", style="dim")
    if view.customer.crm_handles:
        text.append("CRM knows ", style="dim")
        text.append_text(literal(", ".join(view.customer.crm_handles), one_line=True))
        text.append("\n")
    return text


def notes_text(view: CustomerView) -> Text:
    text = Text("\nNotes (e edits)\n", style="bold underline")
    text.append_text(literal(view.customer.notes) if view.customer.notes else Text("none yet", style="dim"))
    return text


def merges_text(view: CustomerView) -> Text:
    text = Text("\nMerged here (U undoes the latest)\n", style="bold underline")
    if not view.merges:
        text.append("none\n", style="dim")
    for merge in view.merges:
        source = view.merged_from.get(merge.from_customer_id)
        text.append(f"{merge.created_at:%Y-%m-%d} ", style="dim")
        text.append_text(
            literal(source.display_name if source else f"#{merge.from_customer_id}", "bold", one_line=True)
        )
        identities = plural(len(merge.identity_ids), "identity", "identities")
        text.append(f"  {identities}, {plural(len(merge.thread_ids), 'thread')}, by ", style="dim")
        text.append_text(literal(merge.responder, "dim", one_line=True))
        if source is not None and source.notes:
            # Its own notes stay on it (an unmerge gives them back): shown here so nothing is out of sight.
            text.append("\n  notes: ", style="dim")
            text.append_text(literal(source.notes, "italic", one_line=True))
        text.append("\n")
    return text


class TierPicker(_Picker):
    def __init__(self, tiers: Sequence[str], current: str) -> None:
        options = [
            (t, Text(f"{i}  {t}", style="bold" if t == current else "")) for i, t in enumerate(tiers, 1)
        ]
        super().__init__("Set the customer's tier", options)


class EditText(ModalScreen[str | None]):
    """Notes (several lines, ctrl+s saves) or one line (enter saves); escape cancels either."""

    DEFAULT_CSS = """
    EditText { align: center middle; }
    EditText > Vertical { width: 90; height: auto; border: round $accent; background: $panel; padding: 0 1; }
    EditText TextArea { height: 12; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="edit.save", tooltip="Save and close", priority=True),
        Binding("escape", "cancel", "Cancel", id="edit.cancel", tooltip="Close without saving"),
    ]

    def __init__(self, title: str, value: str, *, multiline: bool = False) -> None:
        super().__init__()
        self._title, self._value, self._multiline = title, value, multiline

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title, style="bold"))
            if self._multiline:
                yield TextArea(self._value, id="edit", soft_wrap=True, show_line_numbers=False)
            else:
                yield Input(self._value, id="edit")

    def on_mount(self) -> None:
        self.query_one("#edit").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_save(self) -> None:
        editor = self.query_one("#edit")
        self.dismiss(editor.text if isinstance(editor, TextArea) else cast(Input, editor).value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 70; height: auto; border: round $warning; background: $panel; padding: 0 1; }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes", tooltip="Go ahead"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", tooltip="Leave everything as it is"),
    ]

    def __init__(self, question: Text) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._question)
            yield Static(Text("y yes · n no", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
