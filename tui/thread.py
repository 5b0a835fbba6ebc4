"""One thread: the whole conversation, the customer's record beside it, and the reply box (tui/composer.py).
A reply that did not go out shows why, and can be sent again or taken back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from sqlalchemy.exc import DBAPIError
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Footer, Static, TextArea

from responders.reply_actions import ReplyNotChangeable
from store import StoreUnavailable
from store.models import Draft, Reply, ReplyStatus
from store.queries import ThreadView
from tui.actions import database_trouble
from tui.commands import THREAD, bindings
from tui.composer import Composer
from tui.text import literal, notify_literal, tier_badge, time_left
from tui.thread_text import customer_record, message_text, note_text, reply_text

__all__ = ["ThreadScreen", "customer_record", "message_text", "note_text", "reply_text"]


@dataclass
class ThreadLoaded(Message):
    view: ThreadView | None
    # My draft on the thread, read with the first load only (later loads never overwrite the box).
    draft: Draft | None = None
    first: bool = False


# How often an open thread tells the other desks "I am looking at this" (they treat 30 s of silence as gone).
PRESENCE_BEAT_SECONDS = 10.0
# Columns below which the customer's record gives the conversation more room.
NARROW = 100
STUCK = (ReplyStatus.FAILED, ReplyStatus.QUEUED)


class ThreadScreen(Composer):
    CSS_PATH = "thread.tcss"
    COMMANDS_DECLARED = THREAD
    BINDINGS = bindings(THREAD)
    HELP_TITLE = "Thread keys"

    def __init__(self, thread_id: int, *, compose: bool = False) -> None:
        super().__init__()
        self.thread_id = thread_id
        self._compose_on_load = compose
        self._seen_change: datetime | None = None
        self._draft_read = False

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="conversation"):
                yield Static(id="thread-title")
                yield VerticalScroll(id="messages")
                yield Static(id="composer-help")
                yield TextArea(id="composer", soft_wrap=True, show_line_numbers=False)
            yield VerticalScroll(Static(id="customer-record"), id="customer")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    def on_mount(self) -> None:
        self._show_help()
        self.load()
        self.set_interval(self.earful.refresh_seconds, self._poll)
        self._beat()
        self.set_interval(PRESENCE_BEAT_SECONDS, self._beat)

    @work(thread=True, exclusive=True, group="thread-presence", exit_on_error=False)
    def _beat(self) -> None:
        self.earful.desk.viewing(self.thread_id)

    def on_unmount(self) -> None:
        desk = self.earful.desk
        self._keep_draft()
        self.app.run_worker(
            lambda: desk.viewing(None), thread=True, group="presence-leave", exit_on_error=False
        )

    def _refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="thread-load")
    def load(self) -> None:
        try:
            self._seen_change = self.earful.desk.last_change()
            view = self.earful.desk.thread(self.thread_id)
            first, draft = not self._draft_read, None
            if first:
                draft = self.earful.desk.draft(self.thread_id)
                self._draft_read = True
            self.post_message(ThreadLoaded(view, draft, first))
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
        if message.draft is not None and not self.composer.text.strip():
            self._restore(message.draft)
        if self._reread:
            self._reread = False
            self._seen = self._seen_now()
        # The length rule is the thread's network's, known only now.
        self._show_help()
        self.refresh_bindings()
        if self._compose_on_load:
            self._compose_on_load = False
            self.action_focus_composer()

    # -- what is shown ---------------------------------------------------------------------------------------

    def _render_title(self, view: ThreadView) -> None:
        thread = view.thread
        title = Text()
        title.append_text(tier_badge(thread.tier))
        title.append(f" urgency {thread.urgency}  ", style="bold")
        if thread.sla_due_at is not None:
            # Next to the urgency: on a narrow window the title wraps after what matters most.
            title.append("SLA ")
            title.append_text(time_left(thread.sla_due_at, self.earful.desk.clock()))
            title.append("  ")
        title.append_text(literal(f"{thread.network} · {thread.brand} · {thread.status}", one_line=True))
        # Names are cleaned when stored; a row written before that is shown safely all the same.
        title.append(" · ", style="dim")
        if thread.assignee:
            title.append_text(literal(thread.assignee, "dim", one_line=True))
        else:
            title.append("unclaimed", style="dim")
        if thread.tags:
            title.append("  ")
            title.append_text(literal(" ".join(f"#{t}" for t in thread.tags), "cyan", one_line=True))
        for viewer in view.viewers:
            title.append("  ◉ ", style="magenta")
            title.append_text(literal(viewer, "bold magenta", one_line=True))
            title.append(" viewing", style="magenta")
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
        stuck = self._stuck()
        timed = [(m.created_at, w) for (m, _), w in zip(view.messages, widgets, strict=True)]
        timed += [
            (r.created_at, Static(reply_text(r, now, keys=self._stuck_keys(r, stuck)), classes="reply"))
            for r in view.replies
            if not r.native_id or r.native_id not in echoed
        ]
        timed += [(n.created_at, Static(note_text(n, now), classes="note")) for n in view.notes]
        timed.sort(key=lambda pair: pair[0])
        box.mount_all([w for _, w in timed])
        if at_bottom:
            box.scroll_end(animate=False)

    def _stuck(self, *, cancel: bool = False) -> Reply | None:
        """The newest reply of the thread that did not go out: what retry and cancel act on."""
        replies = self.view.replies if self.view else []
        for reply in reversed(replies):
            if reply.status in STUCK and not (
                cancel and reply.status == ReplyStatus.QUEUED and reply.attempts
            ):
                return reply
        return None

    def _stuck_keys(self, reply: Reply, stuck: Reply | None) -> str:
        if stuck is None or reply.id != stuck.id:
            return ""
        keys = [f"{self._key('retry_reply')} retry"]
        if self._stuck(cancel=True) is not None:
            keys.append(f"{self._key('cancel_reply')} cancel")
        return " · ".join(keys)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "send":
            return self.mode == "reply"
        if action == "save_note":
            return self.mode == "note"
        if action == "retry_reply":
            return self._stuck() is not None
        if action == "cancel_reply":
            return self._stuck(cancel=True) is not None
        if action == "discard_draft":
            try:
                return bool(self.composer.text.strip() or self._saved[0])
            except NoMatches:
                return False
        return True

    def action_scroll_down(self) -> None:
        self.query_one("#messages", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#messages", VerticalScroll).scroll_up()

    def action_customer(self) -> None:
        self.earful.open_customer_of(self.thread_id)

    # -- a reply that did not go out -------------------------------------------------------------------------

    def action_retry_reply(self) -> None:
        stuck = self._stuck()
        if stuck is not None and stuck.id is not None:
            notify_literal(self, "Sending it again…", timeout=2)
            self._on_stuck("retry", stuck.id)

    def action_cancel_reply(self) -> None:
        stuck = self._stuck(cancel=True)
        if stuck is not None and stuck.id is not None:
            self._on_stuck("cancel", stuck.id)

    @work(thread=True, group="thread-send")
    def _on_stuck(self, what: str, reply_id: int) -> None:
        desk = self.earful.desk
        try:
            reply = desk.retry_reply(reply_id) if what == "retry" else desk.cancel_reply(reply_id)
        except (ReplyNotChangeable, LookupError) as exc:
            self.app.call_from_thread(notify_literal, self, f"Not changed: {exc}", severity="warning")
            return
        except (DBAPIError, StoreUnavailable) as exc:
            self.app.call_from_thread(
                notify_literal, self, f"Not changed: {database_trouble(exc)}", severity="error"
            )
            return
        self.app.call_from_thread(self._stuck_done, what, reply)

    def _stuck_done(self, what: str, reply: Reply) -> None:
        if what == "cancel":
            said = "Reply cancelled: it will not be sent"
            if not self.composer.text.strip():
                # What was typed is never lost: the reply's text comes back to be edited or sent again.
                self._set_mode("reply")
                self.composer.text = reply.text
                said += "; its text is back in the reply box"
            notify_literal(self, said, timeout=5)
        elif reply.status == ReplyStatus.SENT:
            notify_literal(self, "Reply sent", timeout=3)
        else:
            notify_literal(
                self, f"Still not sent ({reply.status}): {reply.error}", severity="error", timeout=8
            )
        self.load()

    # -- leaving ---------------------------------------------------------------------------------------------

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
        self._keep_draft()
        if self.composer.has_focus and self.composer.text.strip():
            # Leaving the reply box keeps the draft; a second escape leaves the thread (the draft stays kept).
            self.query_one("#messages", VerticalScroll).focus()
            return
        self.dismiss()
