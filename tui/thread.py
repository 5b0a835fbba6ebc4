"""One thread: the whole conversation, the customer's record beside it, and the reply box."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from responders.outbox import LENGTH_LIMITS, ReplyRejected
from responders.triage import ClaimedByOther
from store.models import Mention, Reply, ReplyStatus
from store.queries import ThreadView
from tui.commands import THREAD, bindings
from tui.pickers import SavedReplyPicker, StatusPicker
from tui.text import SENTIMENT_STYLES, ago, literal, tier_badge, time_left, why

if TYPE_CHECKING:
    from tui.app import EarfulApp


@dataclass
class ThreadLoaded(Message):
    view: ThreadView | None


class ThreadScreen(Screen[None]):
    CSS_PATH = "thread.tcss"
    COMMANDS_DECLARED = THREAD
    BINDINGS = bindings(THREAD)

    def __init__(self, thread_id: int, *, compose: bool = False) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.view: ThreadView | None = None
        self._compose_on_load = compose
        self._template: str | None = None
        self._seen_change: datetime | None = None
        self._sending = False

    @property
    def earful(self) -> EarfulApp:
        return self.app  # type: ignore[return-value]

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

    @work(thread=True, exclusive=True, group="thread-load")
    def load(self) -> None:
        self._seen_change = self.earful.desk.last_change()
        self.post_message(ThreadLoaded(self.earful.desk.thread(self.thread_id)))

    @work(thread=True, exclusive=True, group="thread-poll")
    def _poll(self) -> None:
        if self.earful.desk.last_change() != self._seen_change:
            self.load()

    def on_thread_loaded(self, message: ThreadLoaded) -> None:
        self.view = message.view
        if message.view is None:
            self.notify(f"Thread {self.thread_id} no longer exists", severity="error")
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
        title = tier_badge(thread.tier)
        title.append(f" urgency {thread.urgency}  ", style="bold")
        title.append(f"{thread.network} · {thread.brand} · {thread.status}")
        title.append(f" · {thread.assignee}" if thread.assignee else " · unclaimed", style="dim")
        if thread.sla_due_at is not None:
            title.append("  SLA ")
            title.append_text(time_left(thread.sla_due_at))
        self.query_one("#thread-title", Static).update(title)

    def _render_messages(self, view: ThreadView) -> None:
        box = self.query_one("#messages", VerticalScroll)
        at_bottom = box.scroll_y >= box.max_scroll_y - 1
        box.remove_children()
        # Our own replies come back from the network as the brand's posts; show who sent them from here.
        by_native = {r.native_id: r for r in view.replies if r.native_id}
        widgets = [
            Static(
                message_text(m, identity.handle, by_native.get(m.native_id)),
                classes="own" if m.is_own else "inbound",
            )
            for m, identity in view.messages
        ]
        echoed = {m.native_id for m, _ in view.messages}
        widgets += [
            Static(reply_text(r), classes="reply")
            for r in view.replies
            if not r.native_id or r.native_id not in echoed
        ]
        box.mount_all(widgets)
        if at_bottom:
            box.scroll_end(animate=False)

    def _composer_help(self, length: int) -> Text:
        network = self.view.thread.network if self.view else "x"
        limit = LENGTH_LIMITS.get(network)
        text = Text("r write · s saved reply · ctrl+s send · esc back   ", style="dim")
        if limit:
            text.append(f"{length}/{limit}", style="bold red" if length > limit else "")
        return text

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.query_one("#composer-help", Static).update(
            self._composer_help(len(event.text_area.text.strip()))
        )

    def action_focus_composer(self) -> None:
        self.query_one("#composer", TextArea).focus()

    def action_saved_reply(self) -> None:
        saved = list(self.earful.desk.saved_replies)
        if not saved:
            self.notify("No saved replies configured (config/replies.toml)", severity="warning")
            return
        if self.view is None:
            return

        def chosen(name: str | None) -> None:
            match = next((s for s in saved if s.name == name), None)
            if match is None or self.view is None:
                return
            composer = self.query_one("#composer", TextArea)
            composer.text = self.earful.desk.fill(match, self.view)
            self._template = match.name
            composer.focus()
            composer.move_cursor(composer.document.end)

        self.app.push_screen(SavedReplyPicker(saved), chosen)

    def action_send(self) -> None:
        composer = self.query_one("#composer", TextArea)
        text = composer.text.strip()
        if not text:
            self.notify("Write a reply first (r), or start from a saved one (s)", severity="warning")
            return
        if self._sending:
            return
        self._sending = True
        self._send(text, self._template)

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
            self.notify(error, severity="error", timeout=8)
        else:
            assert reply is not None
            self.notify(
                f"Reply sent on {self.view.thread.network if self.view else 'the network'}", timeout=3
            )
            composer = self.query_one("#composer", TextArea)
            composer.text = ""
            self._template = None
            self.query_one("#messages", VerticalScroll).focus()
        self.load()

    def action_claim(self) -> None:
        self._act("claim")

    def action_resolve(self) -> None:
        self._act("resolved", leave=True)

    def action_move(self) -> None:
        def chosen(status: str | None) -> None:
            if status:
                self._act(status)

        self.app.push_screen(StatusPicker(), chosen)

    @work(thread=True, group="thread-act")
    def _act(self, what: str, leave: bool = False) -> None:
        desk = self.earful.desk
        try:
            if what == "claim":
                desk.claim(self.thread_id)
            else:
                desk.set_status(self.thread_id, what)
        except ClaimedByOther as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        note = "Claimed" if what == "claim" else f"Moved to {what}"
        self.app.call_from_thread(self.notify, note, timeout=2)
        if leave:
            self.app.call_from_thread(self.dismiss)
        else:
            self.load()

    def action_back(self) -> None:
        composer = self.query_one("#composer", TextArea)
        if composer.has_focus and composer.text.strip():
            # Leaving the reply box keeps the draft; a second escape leaves the thread.
            self.query_one("#messages", VerticalScroll).focus()
            return
        self.dismiss()


def message_text(mention: Mention, handle: str, reply: Reply | None = None) -> Text:
    now = datetime.now(UTC)
    head = Text()
    head.append(f"@{handle}" if handle else "unknown", style="bold cyan" if mention.is_own else "bold")
    head.append(f"  {ago(mention.created_at, now)} ago", style="dim")
    if reply is not None:
        head.append(f"  sent by {reply.responder} from earful", style="cyan")
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


def reply_text(reply: Reply) -> Text:
    style = {"sent": "green", "failed": "bold red"}.get(reply.status, "yellow")
    text = Text()
    text.append(f"↳ {reply.responder}", style="bold cyan")
    text.append(f"  {reply.status}", style=style)
    if reply.error and reply.status != ReplyStatus.SENT:
        text.append(f": {reply.error}", style=style)
    text.append("\n")
    text.append_text(literal(reply.text))
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
