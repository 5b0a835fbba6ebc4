"""What a responder does to threads: claim and assign, statuses, tags, snooze, undo. Every change is recorded
(store.desk_actions) in the same transaction, so the latest one can be undone; none takes a colleague's thread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from responders.safe import one_line, strip_controls
from store.clock import as_utc, utcnow
from store.desk_actions import (
    APPLIED,
    NO_THREAD,
    Changed,
    change_threads,
    clean_name,
    known_responders,
    retag,
    undo_latest,
)
from store.models import Thread, ThreadStatus

MAX_TAG = 40
MAX_NOTE = 5000


class ClaimedByOther(RuntimeError):
    def __init__(self, thread_id: int, holder: str | None) -> None:
        super().__init__(f"thread {thread_id} is already claimed by {holder}")
        self.thread_id, self.holder = thread_id, holder


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    # Thread id -> why it was left alone ("held by bob", "no such thread").
    skipped: dict[int, str] = field(default_factory=dict)
    # Thread id -> the colleague a lead took it back from.
    taken_from: dict[int, str] = field(default_factory=dict)

    def summary(self, verb: str) -> str:
        """For the status bar: "3 threads snoozed; 1 skipped (held by bob)"."""
        said = f"{_threads(len(self.done))} {verb}"
        if self.taken_from:
            said += f" ({len(self.taken_from)} taken back from {', '.join(dict.fromkeys(self.taken_from.values()))})"
        if self.skipped:
            reasons = ", ".join(dict.fromkeys(self.skipped.values()))
            said += f"; {len(self.skipped)} skipped ({reasons})"
        return said


def _threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _bulk(changed: Changed) -> BulkResult:
    return BulkResult(changed.done, changed.skipped, changed.taken_from)


def _one(thread_id: int, changed: Changed, *, session: Session) -> Thread:
    """A one-thread action's thread, or the reason it was left alone as an exception."""
    reason = changed.skipped.get(thread_id)
    thread = session.get(Thread, thread_id, populate_existing=True)
    if reason == NO_THREAD or thread is None:
        raise LookupError(f"no thread {thread_id}")
    if reason:
        raise ClaimedByOther(thread_id, thread.assignee)
    return thread


def claim(thread_id: int, responder: str, *, session: Session, now: datetime | None = None) -> Thread:
    """Assign the thread to `responder` unless someone else holds it.

    One conditional UPDATE on a locked row, so two desks racing for the same thread cannot both win.
    """
    changed = _change([thread_id], {"assignee": responder}, "claim", responder, session, now)
    return _one(thread_id, changed, session=session)


def release(thread_id: int, responder: str, *, session: Session, now: datetime | None = None) -> Thread:
    """Let go of a thread `responder` holds; someone else's thread is left as it is."""
    thread = session.get(Thread, thread_id)
    if thread is None:
        raise LookupError(f"no thread {thread_id}")
    if thread.assignee == responder:
        _change([thread_id], {"assignee": None}, "release", responder, session, now)
    return session.get(Thread, thread_id, populate_existing=True) or thread


def set_status(
    thread_id: int,
    status: str,
    *,
    session: Session,
    responder: str | None = None,
    now: datetime | None = None,
) -> Thread:
    """Move one thread to `status`. With a responder, a thread a colleague holds is refused and the change is
    recorded for undo; without one (scripts, the pipeline) it simply moves."""
    status = ThreadStatus(status)
    if responder is not None:
        changed = _change([thread_id], {"status": status}, "set_status", responder, session, now)
        return _one(thread_id, changed, session=session)
    thread = session.get(Thread, thread_id)
    if thread is None:
        raise LookupError(f"no thread {thread_id}")
    thread.status = status
    thread.updated_at = now or utcnow()
    session.add(thread)
    return thread


def is_lead(responder: str, leads: Sequence[str]) -> bool:
    """Whether `responder` may take a colleague's thread back. With no leads named (`[desk] leads`), each desk's
    own responder is one: a team without roles can always free a thread someone left held."""
    return responder in leads if leads else True


def assignable(responder: str, leads: Sequence[str], *, session: Session) -> list[str]:
    """Who a thread can go to until there is a team roster: names that worked on this desk before (store.
    desk_actions.known_responders), the leads, and me. A typed name nobody has would hold a thread for good."""
    names = {*known_responders(session=session), *(clean_name(lead) for lead in leads), responder}
    return sorted(names, key=str.casefold)


def assign(
    thread_ids: Sequence[int],
    to: str | None,
    *,
    responder: str,
    session: Session,
    now: datetime | None = None,
    leads: Sequence[str] = (),
    take_back: bool = True,
) -> BulkResult:
    """Give threads to `to` (None: to nobody), a name from `assignable`. Threads that are free or held by
    `responder` move; a lead (`is_lead`) moves threads a colleague holds too, taking them back (unless
    `take_back` is False: a claim never takes a thread from anyone).

    The name is stored cleaned (store.desk_actions.clean_name): typed or pasted, it cannot carry an escape
    sequence to the colleagues' screens."""
    if to is not None and not one_line(to):
        raise ValueError("assign to whom? Give a responder's name, or None to unassign")
    if to is not None:
        names = assignable(responder, leads, session=session)
        to = next((name for name in names if name.casefold() == clean_name(to).casefold()), to)
        if to not in names:
            raise ValueError(
                f"nobody called {one_line(to, 40)!r} has worked on this desk yet, so the thread would be held by "
                f"no one for good; assign to {', '.join(names)} (or - for nobody)"
            )
    kind = "assign" if to else "unassign"
    lead = take_back and is_lead(responder, leads)
    values = {"assignee": clean_name(to) if to else None}
    result = _bulk(
        change_threads(
            thread_ids,
            values,
            kind=kind,
            responder=responder,
            session=session,
            now=now or utcnow(),
            take_back=lead,
        )
    )
    if not is_lead(responder, leads):
        for thread_id, reason in result.skipped.items():
            if reason.startswith("held by"):
                result.skipped[thread_id] = f"{reason}; a lead ({', '.join(leads)}) can take it back"
    return result


def move(
    thread_ids: Sequence[int], status: str, *, responder: str, session: Session, now: datetime | None = None
) -> BulkResult:
    values = {"status": ThreadStatus(status)}
    return _bulk(_change(thread_ids, values, "move", responder, session, now))


def normalise_tag(tag: str) -> str:
    cleaned = tag.strip().lower()
    # Tags show in every desk's table and in filters ("tag:a,b"): one printable word each.
    if not 1 <= len(cleaned) <= MAX_TAG or any(
        c == "," or not c.isprintable() or c.isspace() for c in cleaned
    ):
        raise ValueError(
            f"a tag is 1 to {MAX_TAG} characters without spaces or commas, e.g. refund; got {tag!r}"
        )
    return cleaned


def tag(
    thread_ids: Sequence[int], tag: str, *, responder: str, session: Session, now: datetime | None = None
) -> BulkResult:
    cleaned = normalise_tag(tag)
    return _bulk(
        retag(thread_ids, cleaned, add=True, responder=responder, session=session, now=now or utcnow())
    )


def untag(
    thread_ids: Sequence[int], tag: str, *, responder: str, session: Session, now: datetime | None = None
) -> BulkResult:
    cleaned = normalise_tag(tag)
    return _bulk(
        retag(thread_ids, cleaned, add=False, responder=responder, session=session, now=now or utcnow())
    )


def snooze(
    thread_ids: Sequence[int],
    *,
    responder: str,
    session: Session,
    until: datetime | None = None,
    until_reply: bool = False,
    now: datetime | None = None,
) -> BulkResult:
    """Hide threads from the working views until a time, or until the customer writes again (which always
    wakes a thread: see store.threads.apply_inbound)."""
    now = now or utcnow()
    if until is None and not until_reply:
        raise ValueError("snooze until when? Give a time, or until_reply=True to wait for the customer")
    if until is not None:
        until = as_utc(until)
        if until <= now:
            raise ValueError(f"cannot snooze until {until:%Y-%m-%d %H:%M} UTC: that is already past")
    values = {"snoozed_until": until, "snooze_until_reply": until_reply}
    return _bulk(_change(thread_ids, values, "snooze", responder, session, now))


def wake(
    thread_ids: Sequence[int], *, responder: str, session: Session, now: datetime | None = None
) -> BulkResult:
    values = {"snoozed_until": None, "snooze_until_reply": False}
    return _bulk(_change(thread_ids, values, "wake", responder, session, now))


def _change(
    thread_ids: Sequence[int],
    values: dict[str, Any],
    kind: str,
    responder: str,
    session: Session,
    now: datetime | None,
) -> Changed:
    return change_threads(
        thread_ids, values, kind=kind, responder=responder, session=session, now=now or utcnow()
    )


def undo(responder: str, *, session: Session, now: datetime | None = None) -> str | None:
    """Undo `responder`'s latest action not yet undone; a sentence saying what happened, None if nothing."""
    undone = undo_latest(responder, session=session, now=now or utcnow())
    if undone is None:
        return None
    action = undone.action
    what = _action_name(action.kind, action.before.get(APPLIED, {}))
    if not undone.restored:
        said = f"Could not undo {what}"
    else:
        said = f"Undid {what} of {_threads(len(undone.restored))}"
        if len(action.thread_ids) == 1:
            said = f"Undid {what} of thread {action.thread_ids[0]}"
    if undone.skipped:
        reasons = ", ".join(f"#{thread_id} {why}" for thread_id, why in undone.skipped.items())
        said += (
            f"; {len(undone.skipped)} left as changed since ({reasons})"
            if undone.restored
            else f": {reasons}"
        )
    return said


def _action_name(kind: str, applied: dict[str, Any]) -> str:
    if kind in ("move", "set_status"):
        return (
            "resolve"
            if applied.get("status") == ThreadStatus.RESOLVED
            else f"move to {applied.get('status')}"
        )
    if kind == "assign":
        return f"assignment to {applied.get('assignee')}"
    if kind in ("tag", "untag"):
        return f"{kind} {applied.get('tag')}"
    return kind


def clean_note(text: str) -> str:
    # A pasted terminal escape would recolour or rewrite every colleague's screen showing the note.
    cleaned = strip_controls(text).strip()
    if not cleaned:
        raise ValueError("the note is empty: write something for your colleagues first")
    if len(cleaned) > MAX_NOTE:
        raise ValueError(f"the note is {len(cleaned)} characters; keep it to {MAX_NOTE} (link to a document)")
    return cleaned
