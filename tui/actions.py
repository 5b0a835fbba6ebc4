"""Claim, assign, move, snooze, tag, undo: the same keys do the same thing in the inbox (on the selection) and in
a thread (on that thread). Each screen says what the action applies to (`targets`) and what to do after."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError
from textual import work
from textual.screen import Screen

from responders.desk import BulkResult
from responders.triage import ClaimedByOther
from store import StoreUnavailable
from tui.pickers import AssignPicker, Prompt, SnoozePicker, StatusPicker
from tui.text import notify_literal

if TYPE_CHECKING:
    from tui.app import EarfulApp

VERBS = {
    "claim": "claimed",
    "assign": "assigned",
    "move": "moved",
    "snooze": "snoozed",
    "wake": "woken",
    "tag": "tagged",
    "untag": "untagged",
}
# The assign picker's choice that takes a thread off everyone's list (no responder's name is "-").
NOBODY = "-"


def database_trouble(exc: BaseException) -> str:
    """The database's own first line (deadlock detected, disk full, connection refused), not a traceback."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


# SQLSTATE classes that blame the statement, not the server: data exception, syntax or access rule, program
# limit exceeded (PostgreSQL's "stack depth limit exceeded" for a query too complex is one).
_STATEMENT_FAULTS = ("22", "42", "54")


def query_fault(exc: BaseException) -> bool:
    """Whether the database refused this query itself (asking again gets the same answer), rather than being
    unreachable, busy or full for a while (asking again on the next beat may work)."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _STATEMENT_FAULTS


def run_bulk(app: EarfulApp, what: str, ids: list[int], **kw: object) -> tuple[str, str]:
    """One desk action on threads (called from a worker thread): (what to tell the responder, severity)."""
    desk = app.desk
    try:
        result: BulkResult
        if what == "claim":
            # A claim takes what is free; taking a colleague's thread back is `a`, a lead's choice.
            result = desk.assign(ids, desk.responder, take_back=False)
        elif what == "assign":
            result = desk.assign(ids, kw["to"])  # type: ignore[arg-type]
        elif what == "move":
            result = desk.move(ids, str(kw["status"]))
        elif what == "snooze":
            until = kw["until"]
            result = desk.snooze(ids, until=until, until_reply=until is None)  # type: ignore[arg-type]
        elif what == "wake":
            result = desk.wake(ids)
        elif what in ("tag", "untag"):
            result = getattr(desk, what)(ids, str(kw["tag"]))
        else:
            raise ValueError(f"unknown desk action {what!r}")
    except (ClaimedByOther, ValueError, LookupError) as exc:
        return str(exc), "error"
    except (DBAPIError, StoreUnavailable) as exc:
        # A deadlock, a dead server, a full disk: the transaction rolled back, so nothing changed.
        return f"Not saved, nothing changed: {database_trouble(exc)}. Try again.", "error"
    verb = f"moved to {kw['status']}" if what == "move" else VERBS[what]
    return result.summary(verb), "warning" if result.skipped else "information"


class TriageActions(Screen[None]):
    """The shared actions. Subclasses provide `targets()` and may override `acted()`."""

    # Whether a successful status change or snooze closes the screen (a thread does; the inbox stays).
    LEAVE_AFTER_PUTTING_AWAY = False

    @property
    def earful(self) -> EarfulApp:
        return self.app  # type: ignore[return-value]

    def targets(self) -> list[int]:
        raise NotImplementedError

    def holders(self) -> list[str]:
        """Who holds what an action applies to, named in the assign picker."""
        return []

    def known_tags(self) -> list[str]:
        return []

    def acted(self, text: str, severity: str, *, put_away: bool) -> None:
        notify_literal(self, text, severity=severity, timeout=4)

    def action_claim(self) -> None:
        self.act("claim")

    def action_resolve(self) -> None:
        self.act("move", status="resolved")

    def action_move(self) -> None:
        def chosen(status: str | None) -> None:
            if status:
                self.act("move", status=status)

        self.app.push_screen(StatusPicker(), chosen)

    def action_assign(self) -> None:
        if self.targets():
            self._pick_assignee(self.holders())

    @work(thread=True, exclusive=True, group="desk-assign", exit_on_error=False)
    def _pick_assignee(self, holders: list[str]) -> None:
        desk = self.earful.desk
        try:
            names = desk.assignable()
        except (DBAPIError, StoreUnavailable) as exc:
            self.app.call_from_thread(
                self.acted,
                f"Could not list who to assign to: {database_trouble(exc)}",
                "error",
                put_away=False,
            )
            return

        def chosen(name: str | None) -> None:
            if name:
                self.act("assign", to=None if name == NOBODY else name)

        picker = AssignPicker(names, me=desk.responder, holders=holders)
        self.app.call_from_thread(self.app.push_screen, picker, chosen)

    def action_snooze(self) -> None:
        picker = SnoozePicker(self.earful.desk.clock())

        def chosen(key: str | None) -> None:
            if key:
                self.act("snooze", until=picker.choices[key])

        self.app.push_screen(picker, chosen)

    def action_wake(self) -> None:
        self.act("wake")

    def action_tag(self) -> None:
        def chosen(tag: str | None) -> None:
            if tag:
                self.act("untag" if tag.startswith("-") else "tag", tag=tag.lstrip("-"))

        self.app.push_screen(
            Prompt("Tag", hint="a tag; -tag removes it", suggestions=self.known_tags()), chosen
        )

    def action_undo(self) -> None:
        self._undo()

    @work(thread=True, group="desk-act")
    def _undo(self) -> None:
        try:
            said = self.earful.desk.undo() or "Nothing to undo"
        except (DBAPIError, StoreUnavailable) as exc:
            self.app.call_from_thread(
                self.acted, f"Undo failed: {database_trouble(exc)}", "error", put_away=False
            )
            return
        self.app.call_from_thread(self.acted, said, "information", put_away=False)

    def act(self, what: str, **kw: object) -> None:
        ids = self.targets()
        if ids:
            self._act(what, ids, kw)

    @work(thread=True, group="desk-act")
    def _act(self, what: str, ids: list[int], kw: dict[str, object]) -> None:
        text, severity = run_bulk(self.earful, what, ids, **kw)
        put_away = what == "snooze" or (what == "move" and kw.get("status") == "resolved")
        self.app.call_from_thread(self.acted, text, severity, put_away=put_away)
