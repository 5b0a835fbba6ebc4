"""The reply box of a thread, and everything behind a send.

Nothing a responder types is lost: the box is kept as the thread's draft in the store while they type (a moment
after the last key), on escape and on leaving, and it is back in the box when the thread opens again (after a
restart too), until it is sent or discarded (asking first). Nothing wrong reaches the customer: a saved reply's
blank left unfilled stops the send in the box, the counter counts as the thread's network does (the same rule
`queue_reply` checks), and a reply or customer message that arrived since the box opened, or a colleague
holding the thread, is told and asked about before anything is queued. A queued reply belongs to the outbox: the
box is free again, and the reply is on the thread with its state (retry and cancel are the thread's keys).
"""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from sqlalchemy.exc import DBAPIError
from textual import work
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import Static, TextArea
from textual.widgets.text_area import Selection

from responders.desk import Seen
from responders.outbox import ReplyRejected
from responders.templates import FIELD, unfilled
from store import StoreUnavailable
from store.models import Draft, Reply, ReplyStatus
from store.queries import ThreadView
from tui.actions import TriageActions, database_trouble
from tui.commands import THREAD
from tui.customer import Confirm
from tui.pickers import SavedReplyPicker
from tui.text import literal, notify_literal

NOTE_LIMIT = 5000
# A draft is saved this long after the last key: often enough to lose nothing, rarely enough to cost nothing.
DRAFT_SAVE_SECONDS = 0.8


class Composer(TriageActions):
    """A screen with the reply box (#composer, #composer-help, #messages) for the thread `thread_id`."""

    thread_id: int

    def __init__(self) -> None:
        super().__init__()
        self.view: ThreadView | None = None
        self._template: str | None = None
        self._sending = False
        # "reply" sends to the customer; "note" saves an internal note nobody outside the desk sees.
        self.mode = "reply"
        # What the store holds as my draft here, so only a change is written.
        self._saved: tuple[str, str] = ("", "reply")
        self._draft_timer: Timer | None = None
        self._draft_trouble = False
        # The thread as the reply box first showed it; a reply sent from here is no news to its own sender.
        self._seen: Seen | None = None
        self._reply_floor = 0
        self._reread = False

    def _refresh(self) -> None:
        """Read the thread again (the screen's own load)."""
        raise NotImplementedError

    @property
    def composer(self) -> TextArea:
        return self.query_one("#composer", TextArea)

    def _restore(self, draft: Draft) -> None:
        self._template = draft.template
        self._set_mode(draft.mode if draft.mode in ("reply", "note") else "reply")
        self.composer.text = draft.text
        self._saved = (draft.text, self.mode)
        self._start_seen()
        what = "note" if self.mode == "note" else "reply"
        notify_literal(self, f"Your draft {what} is back in the box (ctrl+g discards it)", timeout=4)

    def _key(self, action: str) -> str:
        """The key an action is bound to now (`[desk.keys]` may remap it)."""
        command = next((c for c in THREAD if c.action == action), None)
        if command is None:
            return "?"
        keymap: dict[str, str] = getattr(self.app, "_keymap", {}) or {}
        key = keymap.get(command.id, command.key).split(",")[0].strip()
        return {"escape": "esc"}.get(key, key)

    def _show_help(self) -> None:
        try:
            text = self.composer.text
        except NoMatches:
            return
        self.query_one("#composer-help", Static).update(self._composer_help(text))

    def _composer_help(self, typed: str) -> Text:
        """The count first (it matters most, and a narrow window cuts the end), then the keys."""
        save, leave = self._key("save_note"), self._key("back")
        text = Text()
        if self.mode == "note":
            used = len(typed.strip())
            text.append("internal note", style="bold yellow")
            text.append(f" {used}/{NOTE_LIMIT}", style="bold red" if used > NOTE_LIMIT else "")
            text.append(f" · colleagues see it, the customer never does · {save} save note · {leave} back")
            return text
        if self.view is not None:
            posted, length = self.earful.desk.outgoing(self.view, typed)
            lead = posted[: len(posted) - len(typed.strip())].strip() if typed.strip() else ""
            if lead:
                # Who the network will notify: the @mentions the reply is sent with (Mastodon's way).
                text.append_text(literal(f"to {lead}  ", "cyan", one_line=True))
            if length.limit:
                style = "bold red" if length.refused else "bold"
                text.append(f"{length.used}/{length.limit} on {length.network}", style=style)
                text.append(" · ", style="dim")
        text.append(
            f"r write · n note · s saved reply · {self._key('send')} send · {leave} back", style="dim"
        )
        return text

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.composer.set_class(mode == "note", "note")
        self._show_help()
        self.refresh_bindings()

    # -- the draft -------------------------------------------------------------------------------------------

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._show_help()
        self.refresh_bindings()
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_SAVE_SECONDS, self._keep_draft)

    def _keep_draft(self) -> None:
        """Write the box to the store if it changed since the last write (an empty box: no draft)."""
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
        try:
            text = self.composer.text
        except NoMatches:
            return
        if self._sending or (text, self.mode) == self._saved:
            return
        self._saved = (text, self.mode)
        desk, thread_id, mode, template = self.earful.desk, self.thread_id, self.mode, self._template

        def save() -> None:
            try:
                desk.save_draft(thread_id, text, mode=mode, template=template)
            except (DBAPIError, StoreUnavailable, ValueError, LookupError) as exc:
                self.app.call_from_thread(self._draft_not_kept, exc)

        # The app's worker, not the screen's: a draft saved on leaving must outlive the screen.
        self.app.run_worker(save, thread=True, group="draft-save", exit_on_error=False)

    def _draft_not_kept(self, exc: BaseException) -> None:
        self._saved = ("", "")  # unknown: the next change writes it again
        if not self._draft_trouble:
            self._draft_trouble = True
            cause = database_trouble(exc) if isinstance(exc, DBAPIError | StoreUnavailable) else str(exc)
            notify_literal(self, f"Draft not saved ({cause}); it stays in the box", severity="warning")

    def action_discard_draft(self) -> None:
        typed = self.composer.text.strip() or self._saved[0].strip()
        if not typed:
            return
        question = Text("Discard your draft on this thread?\n", style="bold")
        question.append_text(literal(typed[:200] + ("…" if len(typed) > 200 else ""), "dim"))
        question.append(f"\n{len(typed)} characters, gone for good.", style="dim")

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            self._template = None
            self.composer.text = ""
            self._set_mode("reply")
            self._keep_draft()
            notify_literal(self, "Draft discarded", timeout=3)

        self.app.push_screen(Confirm(question), answered)

    # -- writing ---------------------------------------------------------------------------------------------

    def _seen_now(self) -> Seen | None:
        if self.view is None:
            return None
        seen = self.earful.desk.seen(self.view)
        return replace(seen, reply_id=max(seen.reply_id, self._reply_floor))

    def _start_seen(self) -> None:
        if self._seen is None:
            self._seen = self._seen_now()

    def action_focus_composer(self) -> None:
        self._set_mode("reply")
        self.composer.focus()
        self._start_seen()

    def action_note(self) -> None:
        self._set_mode("note")
        self.composer.focus()

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
            filled = self.earful.desk.filled(match, self.view)
            self._set_mode("reply")
            self.composer.text = filled.text
            self._template = match.name
            self.composer.focus()
            self._select(*filled.cursor)
            self._start_seen()
            if filled.blanks:
                notify_literal(
                    self, self._fill_in(filled.blanks, selected=True), severity="warning", timeout=6
                )

        self.app.push_screen(SavedReplyPicker(saved, self.earful.desk.saved_reply_uses()), chosen)

    def _select(self, start: int, end: int) -> None:
        """Put the cursor (or a selection) at these offsets of the box's text."""
        text = self.composer.text

        def location(offset: int) -> tuple[int, int]:
            before = text[:offset]
            return before.count("\n"), len(before) - (before.rfind("\n") + 1)

        self.composer.selection = Selection(location(start), location(end))

    @staticmethod
    def _fill_in(blanks: list[str] | tuple[str, ...], *, selected: bool) -> str:
        names = ", ".join("{" + b + "}" for b in blanks)
        how = " (selected: type to replace it)" if selected else ""
        return f"Fill in {names}{how}: the thread does not say it"

    # -- sending ---------------------------------------------------------------------------------------------

    def action_send(self) -> None:
        if self.mode == "note":
            self.action_save_note()
            return
        text = self.composer.text.strip()
        if not text:
            notify_literal(self, "Write a reply first (r), or start from a saved one (s)", severity="warning")
            return
        if self._sending:
            return
        blanks = unfilled(text)
        if blanks:
            # Caught here, before anything is queued: the customer must never read "{order}".
            blank = next(FIELD.finditer(self.composer.text))
            self.composer.focus()
            self._select(blank.start(), blank.end())
            notify_literal(
                self, self._fill_in(blanks, selected=False) + ". Nothing was sent.", severity="error"
            )
            return
        self._sending = True
        self._keep_draft()
        self._check_then_send(text, self._template, self._seen or self._seen_now())

    def action_save_note(self) -> None:
        text = self.composer.text.strip()
        if not text:
            notify_literal(self, "Write the note first", severity="warning")
            return
        if self._sending:
            return
        self._sending = True
        self._save_note(text)

    @work(thread=True, group="thread-send")
    def _check_then_send(self, text: str, template: str | None, seen: Seen | None) -> None:
        try:
            news = self.earful.desk.changes_since(seen) if seen is not None else []
        except (DBAPIError, StoreUnavailable) as exc:
            self.app.call_from_thread(self._sent, None, f"Not sent, nothing queued: {database_trouble(exc)}")
            return
        if news:
            self.app.call_from_thread(self._ask_first, news, text, template)
            return
        self._deliver(text, template)

    def _ask_first(self, news: list[str], text: str, template: str | None) -> None:
        question = Text("Before you send\n", style="bold")
        for line in news:
            question.append("• ")
            question.append_text(literal(line))
            question.append("\n")
        question.append("Send your reply anyway? (n: read the thread first)", style="bold")

        def answered(yes: bool | None) -> None:
            if yes:
                self._send(text, template)
                return
            self._sending = False
            self._reread = True  # what arrived counts as seen once the thread shows it
            self.query_one("#messages", VerticalScroll).focus()
            self.query_one("#messages", VerticalScroll).scroll_end(animate=False)
            self._refresh()
            notify_literal(self, "Not sent. Read what is new, then send again", timeout=4)

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, group="thread-send")
    def _send(self, text: str, template: str | None) -> None:
        self._deliver(text, template)

    def _deliver(self, text: str, template: str | None) -> None:
        try:
            reply = self.earful.desk.reply(self.thread_id, text, template=template)
        except ReplyRejected as exc:
            self.app.call_from_thread(self._sent, None, f"Not sent: {exc}")
            return
        except (DBAPIError, StoreUnavailable) as exc:
            self.app.call_from_thread(self._sent, None, f"Not sent, nothing queued: {database_trouble(exc)}")
            return
        error = None
        if reply.status != ReplyStatus.SENT:
            error = (
                f"Not sent yet ({reply.status}): {reply.error}. It waits in the outbox: "
                f"{self._key('retry_reply')} retries it, {self._key('cancel_reply')} takes it back"
            )
        self.app.call_from_thread(self._sent, reply, error)

    def _sent(self, reply: Reply | None, error: str | None) -> None:
        self._sending = False
        if reply is None:
            # Nothing was queued: the text stays in the box, and in the draft.
            notify_literal(self, error or "Not sent", severity="error", timeout=8)
            self._keep_draft()
            return
        # Queued: the outbox holds it now (the desk discarded the draft with it), so the box is free again.
        self._saved = ("", "reply")
        self.composer.text = ""
        self._template = None
        self._seen = None
        self._reply_floor = max(self._reply_floor, reply.id or 0)
        if error:
            notify_literal(self, error, severity="error", timeout=8)
        else:
            network = self.view.thread.network if self.view else "the network"
            notify_literal(self, f"Reply sent on {network}", timeout=3)
        self.query_one("#messages", VerticalScroll).focus()
        self._refresh()

    @work(thread=True, group="thread-send")
    def _save_note(self, text: str) -> None:
        try:
            self.earful.desk.add_note(self.thread_id, text)
        except ValueError as exc:
            self.app.call_from_thread(self._noted, str(exc))
            return
        except (DBAPIError, StoreUnavailable) as exc:
            self.app.call_from_thread(self._noted, f"Not saved: {database_trouble(exc)}")
            return
        self.app.call_from_thread(self._noted, None)

    def _noted(self, error: str | None) -> None:
        self._sending = False
        if error:
            notify_literal(self, error, severity="error")
            return
        notify_literal(self, "Note saved (internal)", timeout=3)
        self.composer.text = ""
        self._set_mode("reply")
        self._keep_draft()
        self.query_one("#messages", VerticalScroll).focus()
        self._refresh()
