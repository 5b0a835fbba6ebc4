"""One thread: the whole conversation, the customer's record beside it, and the reply box."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from sqlalchemy.exc import DBAPIError
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Static, TextArea

from responders.outbox import LENGTH_LIMITS, ReplyRejected
from store import StoreUnavailable
from store.models import Mention, Reply, ReplyStatus, ThreadNote
from store.queries import ThreadView
from tui.actions import TriageActions, database_trouble
from tui.commands import THREAD, bindings
from tui.pickers import SavedReplyPicker
from tui.text import SENTIMENT_STYLES, ago, literal, notify_literal, tier_badge, time_left, why

if TYPE_CHECKING:
    pass


@dataclass
class ThreadLoaded(Message):
    view: ThreadView | None


# How often an open thread tells the other desks "I am looking at this" (they treat 30 s of silence as gone).
PRESENCE_BEAT_SECONDS = 10.0
NOTE_LIMIT = 5000


class ThreadScreen(TriageActions):
    CSS_PATH = "thread.tcss"
    COMMANDS_DECLARED = THREAD
    BINDINGS = bindings(THREAD)
    HELP_TITLE = "Thread keys"

    def __init__(self, thread_id: int, *, compose: bool = False) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.view: ThreadView | None = None
        self._compose_on_load = compose
        self._template: str | None = None
        self._seen_change: datetime | None = None
        self._sending = False
        # "reply" sends to the customer; "note" saves an internal note nobody outside the desk sees.
        self.mode = "reply"

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="conversation"):
                yield Static(id="thread-title")
                yield VerticalScroll(id="messages")
                yield Static(id="composer-help")
                yield TextArea(id="composer", soft_wrap=True, show_line_numbers=False)
            yield VerticalScroll(Static(id="customer-record"), id="customer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#composer-help", Static).update(self._composer_help(0))
        self.load()
        self.set_interval(self.earful.refresh_seconds, self._poll)
        self._beat()
        self.set_interval(PRESENCE_BEAT_SECONDS, self._beat)

    @work(thread=True, exclusive=True, group="thread-presence", exit_on_error=False)
    def _beat(self) -> None:
        self.earful.desk.viewing(self.thread_id)

    def on_unmount(self) -> None:
        desk = self.earful.desk
        self.app.run_worker(
            lambda: desk.viewing(None), thread=True, group="presence-leave", exit_on_error=False
        )

    @work(thread=True, exclusive=True, group="thread-load")
    def load(self) -> None:
        try:
            self._seen_change = self.earful.desk.last_change()
            self.post_message(ThreadLoaded(self.earful.desk.thread(self.thread_id)))
        except (DBAPIError, StoreUnavailable) as exc:
            # Keep showing what was loaded; the poll tries again on its next beat.
            self._seen_change = None
            self.app.call_from_thread(
                notify_literal, self, f"database unavailable: {database_trouble(exc)}", severity="error"
            )

    @work(thread=True, exclusive=True, group="thread-poll", exit_on_error=False)
    def _poll(self) -> None:
        if self.earful.desk.last_change() != self._seen_change:
            self.load()

    def on_thread_loaded(self, message: ThreadLoaded) -> None:
        self.view = message.view
        if message.view is None:
            notify_literal(self, f"Thread {self.thread_id} no longer exists", severity="error")
            self.dismiss()
            return
        self._render_title(message.view)
        self._render_messages(message.view)
        self.query_one("#customer-record", Static).update(customer_record(message.view))
        # The length limit is the thread's network's, known only now.
        composer = self.query_one(TextArea)
        self.query_one("#composer-help", Static).update(self._composer_help(len(composer.text.strip())))
        if self._compose_on_load:
            self._compose_on_load = False
            self.action_focus_composer()

    def _render_title(self, view: ThreadView) -> None:
        thread = view.thread
        title = Text()
        title.append_text(tier_badge(thread.tier))
        title.append(f" urgency {thread.urgency}  ", style="bold")
        title.append_text(literal(f"{thread.network} · {thread.brand} · {thread.status}", one_line=True))
        # Names are cleaned when stored; a row written before that is shown safely all the same.
        title.append_text(
            literal(f" · {thread.assignee}", "dim", one_line=True)
            if thread.assignee
            else Text(" · unclaimed", "dim")
        )
        if thread.tags:
            title.append("  ")
            title.append_text(literal(" ".join(f"#{t}" for t in thread.tags), "cyan", one_line=True))
        for viewer in view.viewers:
            title.append("  ◉ ", style="magenta")
            title.append_text(literal(viewer, "bold magenta", one_line=True))
            title.append(" viewing", style="magenta")
        if thread.sla_due_at is not None:
            title.append("  SLA ")
            title.append_text(time_left(thread.sla_due_at, self.earful.desk.clock()))
        self.query_one("#thread-title", Static).update(title)

    def _render_messages(self, view: ThreadView) -> None:
        box = self.query_one("#messages", VerticalScroll)
        at_bottom = box.scroll_y >= box.max_scroll_y - 1
        box.remove_children()
        # Our own replies come back from the network as the brand's posts; show who sent them from here.
        now = self.earful.desk.clock()
        by_native = {r.native_id: r for r in view.replies if r.native_id}
        widgets = [
            Static(
                message_text(m, identity.handle, by_native.get(m.native_id), now=now),
                classes="own" if m.is_own else "inbound",
            )
            for m, identity in view.messages
        ]
        echoed = {m.native_id for m, _ in view.messages}
        timed = [(m.created_at, w) for (m, _), w in zip(view.messages, widgets, strict=True)]
        timed += [
            (r.created_at, Static(reply_text(r, now), classes="reply"))
            for r in view.replies
            if not r.native_id or r.native_id not in echoed
        ]
        timed += [(n.created_at, Static(note_text(n, now), classes="note")) for n in view.notes]
        timed.sort(key=lambda pair: pair[0])
        box.mount_all([w for _, w in timed])
        if at_bottom:
            box.scroll_end(animate=False)

    def _composer_help(self, length: int) -> Text:
        if self.mode == "note":
            text = Text(
                "internal note: colleagues see it, the customer never does · ctrl+s save · esc back   "
            )
            text.stylize("bold yellow", 0, 13)
            text.append(f"{length}/{NOTE_LIMIT}", style="bold red" if length > NOTE_LIMIT else "")
            return text
        network = self.view.thread.network if self.view else "x"
        limit = LENGTH_LIMITS.get(network)
        text = Text("r write · n note · s saved reply · ctrl+s send · esc back   ", style="dim")
        if limit:
            text.append(f"{length}/{limit} on {network}", style="bold red" if length > limit else "")
        return text

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        composer = self.query_one("#composer", TextArea)
        composer.set_class(mode == "note", "note")
        self.query_one("#composer-help", Static).update(self._composer_help(len(composer.text.strip())))

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.query_one("#composer-help", Static).update(
            self._composer_help(len(event.text_area.text.strip()))
        )

    def action_focus_composer(self) -> None:
        self._set_mode("reply")
        self.query_one("#composer", TextArea).focus()

    def action_note(self) -> None:
        self._set_mode("note")
        self.query_one("#composer", TextArea).focus()

    def action_scroll_down(self) -> None:
        self.query_one("#messages", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#messages", VerticalScroll).scroll_up()

    def action_customer(self) -> None:
        self.earful.open_customer_of(self.thread_id)

    def action_saved_reply(self) -> None:
        saved = list(self.earful.desk.saved_replies)
        if not saved:
            notify_literal(self, "No saved replies configured (config/replies.toml)", severity="warning")
            return
        if self.view is None:
            return

        def chosen(name: str | None) -> None:
            match = next((s for s in saved if s.name == name), None)
            if match is None or self.view is None:
                return
            composer = self.query_one("#composer", TextArea)
            self._set_mode("reply")
            composer.text = self.earful.desk.fill(match, self.view)
            self._template = match.name
            composer.focus()
            composer.move_cursor(composer.document.end)

        self.app.push_screen(SavedReplyPicker(saved, self.earful.desk.saved_reply_uses()), chosen)

    def action_send(self) -> None:
        composer = self.query_one("#composer", TextArea)
        text = composer.text.strip()
        if not text:
            notify_literal(self, "Write a reply first (r), or start from a saved one (s)", severity="warning")
            return
        if self._sending:
            return
        self._sending = True
        if self.mode == "note":
            self._save_note(text)
        else:
            self._send(text, self._template)

    @work(thread=True, group="thread-send")
    def _save_note(self, text: str) -> None:
        try:
            self.earful.desk.add_note(self.thread_id, text)
        except ValueError as exc:
            self.app.call_from_thread(self._noted, str(exc))
            return
        self.app.call_from_thread(self._noted, None)

    def _noted(self, error: str | None) -> None:
        self._sending = False
        if error:
            notify_literal(self, error, severity="error")
            return
        notify_literal(self, "Note saved (internal)", timeout=3)
        self.query_one("#composer", TextArea).text = ""
        self._set_mode("reply")
        self.query_one("#messages", VerticalScroll).focus()
        self.load()

    @work(thread=True, group="thread-send")
    def _send(self, text: str, template: str | None) -> None:
        try:
            reply = self.earful.desk.reply(self.thread_id, text, template=template)
        except ReplyRejected as exc:
            self.app.call_from_thread(self._sent, None, f"Not sent: {exc}")
            return
        error = None if reply.status == ReplyStatus.SENT else f"Not sent yet ({reply.status}): {reply.error}"
        self.app.call_from_thread(self._sent, reply, error)

    def _sent(self, reply: Reply | None, error: str | None) -> None:
        self._sending = False
        if error:
            notify_literal(self, error, severity="error", timeout=8)
        else:
            assert reply is not None
            network = self.view.thread.network if self.view else "the network"
            notify_literal(self, f"Reply sent on {network}", timeout=3)
            composer = self.query_one("#composer", TextArea)
            composer.text = ""
            self._template = None
            self.query_one("#messages", VerticalScroll).focus()
        self.load()

    def targets(self) -> list[int]:
        return [self.thread_id]

    def acted(self, text: str, severity: str, *, put_away: bool) -> None:
        super().acted(text, severity, put_away=put_away)
        # Resolved or snoozed: this thread is off the desk, so go back to the next one.
        if put_away and severity == "information":
            self.dismiss()
        else:
            self.load()

    def action_back(self) -> None:
        composer = self.query_one("#composer", TextArea)
        if composer.has_focus and composer.text.strip():
            # Leaving the reply box keeps the draft; a second escape leaves the thread.
            self.query_one("#messages", VerticalScroll).focus()
            return
        self.dismiss()


def message_text(mention: Mention, handle: str, reply: Reply | None = None, *, now: datetime) -> Text:
    head = Text()
    head.append_text(
        literal(
            f"@{handle}" if handle else "unknown", "bold cyan" if mention.is_own else "bold", one_line=True
        )
    )
    head.append(f"  {ago(mention.created_at, now)} ago", style="dim")
    if reply is not None:
        head.append_text(literal(f"  sent by {reply.responder} from earful", "cyan", one_line=True))
    if not mention.is_own and mention.sentiment:
        head.append(f"  {mention.sentiment}", style=SENTIMENT_STYLES.get(mention.sentiment, ""))
        if mention.complaint is not None:
            head.append(f"  complaint {mention.complaint:.0%}", style="dim")
        if mention.severity_label and mention.severity:
            head.append(f"  {mention.severity_label}", style="dim")
        head.append("  ")
        head.append_text(tier_badge(mention.urgency_tier))
        head.append(f" {mention.urgency}", style="bold")
    if not mention.is_own and (mention.explanation or mention.risks):
        head.append("\n")
        head.append_text(why(mention.explanation, mention.risks))
    head.append("\n")
    head.append_text(literal(mention.text))
    if mention.entities and not mention.is_own:
        head.append("\n")
        for entity in mention.entities:
            head.append(f"{str(entity.get('label', '')).lower()} ", style="dim")
            head.append_text(literal(str(entity.get("text", "")), "italic", one_line=True))
            head.append("  ")
    return head


def reply_text(reply: Reply, now: datetime) -> Text:
    style = {"sent": "green", "failed": "bold red"}.get(reply.status, "yellow")
    text = Text()
    text.append_text(literal(f"↳ {reply.responder}", "bold cyan", one_line=True))
    text.append(f"  {reply.status}", style=style)
    text.append(f"  {ago(reply.sent_at or reply.created_at, now)} ago", style="dim")
    if reply.error and reply.status != ReplyStatus.SENT:
        # The network's own words: shown as written, never as markup or a terminal escape.
        text.append_text(literal(f": {reply.error}", style))
    text.append("\n")
    text.append_text(literal(reply.text))
    return text


def note_text(note: ThreadNote, now: datetime) -> Text:
    text = Text()
    text.append("note ", style="bold yellow")
    text.append_text(literal(note.responder, "bold", one_line=True))
    text.append(f"  {ago(note.created_at, now)} ago · internal, not sent\n", style="dim")
    text.append_text(literal(note.text))
    return text


def customer_record(view: ThreadView) -> Text:
    text = Text()
    customer = view.customer
    if customer is None:
        return Text("No customer on this thread yet.", style="dim")
    text.append_text(literal(customer.display_name or "(no name)", "bold", one_line=True))
    text.append(f"\ntier {customer.tier} · customer since {customer.created_at:%Y-%m-%d}\n", style="dim")
    if customer.tags:
        text.append("tags ", style="dim")
        text.append_text(literal(", ".join(customer.tags), one_line=True))
        text.append("\n")
    text.append("\nIdentities\n", style="bold underline")
    for identity in view.identities:
        text.append(f"{identity.network} ")
        text.append_text(literal(f"@{identity.handle}", "bold", one_line=True))
        text.append(f"  {identity.followers:,} followers\n", style="dim")
    if customer.notes:
        text.append("\nNotes\n", style="bold underline")
        text.append_text(literal(customer.notes))
        text.append("\n")
    text.append(f"\nEarlier threads ({len(view.earlier_threads)})\n", style="bold underline")
    if not view.earlier_threads:
        text.append("none: first contact\n", style="dim")
    for thread in view.earlier_threads[:15]:
        text.append(f"{thread.last_activity_at:%Y-%m-%d} {thread.network} {thread.status:<8} ")
        text.append_text(tier_badge(thread.tier))
        text.append(f" {thread.urgency}\n")
    return text
