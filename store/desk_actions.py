"""What desks write besides replies: thread changes recorded so they can be undone, presence heartbeats and
internal notes; and what the desk counts (saved reply uses, activity per hour).

Every change to a thread is one conditional UPDATE that leaves a thread held by someone else alone, so the
database, not the desk, decides who wins when two responders act at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, false, func, or_, true, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from store.models import CustomerMerge, DeskAction, Mention, Presence, Reply, Thread, ThreadNote
from store.text import one_line

NO_THREAD = "no such thread"
# In DeskAction.before, beside the thread ids: what the action set, so undo can tell a colleague's later change.
APPLIED = "_set"
_DATETIME_FIELDS = {"snoozed_until"}
# Thread.assignee and every responder column.
NAME_CHARS = 100


def clean_name(name: str) -> str:
    """A responder's name as stored: one line without control characters. A name holding ESC would otherwise
    retitle, recolour or clear the terminal of every colleague whose desk shows it."""
    cleaned = one_line(name)
    if not cleaned:
        raise ValueError(f"a responder's name needs a visible character; got {name!r}")
    if len(cleaned) > NAME_CHARS:
        raise ValueError(f"a responder's name is at most {NAME_CHARS} characters; got {len(cleaned):,}")
    return cleaned


def clean_tag(tag: str) -> str:
    """A tag as stored: one word of visible characters (responders.triage says what a tag may be)."""
    cleaned = "-".join(one_line(tag).split())
    if not cleaned:
        raise ValueError(f"a tag needs a visible character; got {tag!r}")
    return cleaned


@dataclass
class Changed:
    """Threads an action changed or found already as asked (done), and the ones it left alone, with why."""

    done: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    action: DeskAction | None = None
    # Threads a colleague held that a lead took back: thread id -> who held it.
    taken_from: dict[int, str] = field(default_factory=dict)


def lock_threads(thread_ids: Iterable[int], *, session: Session) -> dict[int, Thread]:
    """The threads, current and row-locked until commit on PostgreSQL (SQLite writers hold the database lock).

    Locked in id order, so two bulk actions over overlapping threads queue up instead of deadlocking.
    """
    rows = session.exec(
        select(Thread)
        .where(col(Thread.id).in_(list(thread_ids)))
        .order_by(col(Thread.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {thread.id: thread for thread in rows if thread.id is not None}


def _free_or_held_by(responder: str) -> Any:
    return or_(col(Thread.assignee).is_(None), col(Thread.assignee) == responder)


def _eligible(
    thread_ids: Sequence[int], responder: str, *, session: Session, take_back: bool = False
) -> tuple[list[Thread], Changed]:
    """The threads `responder` may change (free or theirs; any, for a lead taking threads back), locked; the
    others already marked skipped."""
    responder = clean_name(responder)
    ids = list(dict.fromkeys(thread_ids))
    threads = lock_threads(ids, session=session)
    result, eligible = Changed(), []
    for thread_id in ids:
        thread = threads.get(thread_id)
        if thread is None:
            result.skipped[thread_id] = NO_THREAD
        elif thread.assignee not in (None, responder) and not take_back:
            result.skipped[thread_id] = f"held by {thread.assignee}"
        else:
            if thread.assignee not in (None, responder):
                result.taken_from[thread_id] = thread.assignee
            eligible.append(thread)
            result.done.append(thread_id)
    return eligible, result


def change_threads(
    thread_ids: Sequence[int],
    values: Mapping[str, Any],
    *,
    kind: str,
    responder: str,
    session: Session,
    now: datetime,
    take_back: bool = False,
) -> Changed:
    """Set `values` on every thread that is free or held by `responder` (with `take_back`, a lead's: on any
    thread), and record what they replaced."""
    responder = clean_name(responder)
    if values.get("assignee") is not None:
        values = {**values, "assignee": clean_name(values["assignee"])}
    threads, result = _eligible(thread_ids, responder, session=session, take_back=take_back)
    before: dict[int, dict[str, Any]] = {}
    for thread in threads:
        old = {name: getattr(thread, name) for name, new in values.items() if getattr(thread, name) != new}
        if old and thread.id is not None:
            before[thread.id] = old
    if before:
        # The row lock held since _eligible means no colleague claimed meanwhile; the condition says so again.
        held = true() if take_back else _free_or_held_by(responder)
        changed = session.execute(
            update(Thread)
            .where(col(Thread.id).in_(list(before)), held)
            .values(**values, updated_at=now)
            .returning(col(Thread.id))
            .execution_options(synchronize_session=False)
        ).scalars()
        _drop_lost(result, before, set(changed))
    if before:
        result.action = _record(kind, responder, before, dict(values), session=session, now=now)
    return result


def retag(
    thread_ids: Sequence[int], tag: str, *, add: bool, responder: str, session: Session, now: datetime
) -> Changed:
    """Add or remove one tag, keeping every other tag as it is now (a colleague may have added one)."""
    responder, tag = clean_name(responder), clean_tag(tag)
    threads, result = _eligible(thread_ids, responder, session=session)
    before: dict[int, dict[str, Any]] = {}
    changed: set[int] = set()
    for thread in threads:
        if (tag in thread.tags) == add or thread.id is None:
            continue
        before[thread.id] = {"tags": list(thread.tags)}
        tags = [*thread.tags, tag] if add else [t for t in thread.tags if t != tag]
        changed.update(
            session.execute(
                update(Thread)
                .where(col(Thread.id) == thread.id, _free_or_held_by(responder))
                .values(tags=tags, updated_at=now)
                .returning(col(Thread.id))
                .execution_options(synchronize_session=False)
            ).scalars()
        )
    _drop_lost(result, before, changed)
    if before:
        applied = {"tag": tag}
        result.action = _record(
            "tag" if add else "untag", responder, before, applied, session=session, now=now
        )
    return result


def _drop_lost(result: Changed, before: dict[int, dict[str, Any]], changed: set[int]) -> None:
    # Only possible if the row lock did not hold (it always does); never report a change that did not happen.
    for thread_id in set(before) - changed:
        del before[thread_id]
        result.done.remove(thread_id)
        result.skipped[thread_id] = "taken by someone else just now"


def _record(
    kind: str,
    responder: str,
    before: Mapping[int, Mapping[str, Any]],
    applied: Mapping[str, Any],
    *,
    session: Session,
    now: datetime,
) -> DeskAction:
    recorded = {str(thread_id): _dump(fields) for thread_id, fields in before.items()}
    action = DeskAction(
        responder=responder,
        kind=kind,
        thread_ids=list(before),
        before={**recorded, APPLIED: _dump(applied)},
        created_at=now,
    )
    session.add(action)
    session.flush()
    return action


def _dump(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, datetime) else value for name, value in fields.items()
    }


def _load(name: str, value: Any) -> Any:
    return datetime.fromisoformat(value) if name in _DATETIME_FIELDS and value is not None else value


@dataclass
class Undone:
    action: DeskAction
    restored: list[int]
    # Threads (or some of their fields) a colleague or the customer changed since: their change stands.
    skipped: dict[int, str]


def undo_latest(responder: str, *, session: Session, now: datetime) -> Undone | None:
    """Put back what `responder`'s latest action not yet undone replaced, where it still holds what it set."""
    responder = clean_name(responder)
    action = session.exec(
        select(DeskAction)
        .where(DeskAction.responder == responder, col(DeskAction.undone_at).is_(None))
        .order_by(col(DeskAction.id).desc())
        .limit(1)
    ).first()
    if action is None:
        return None
    # Two desks signed in as the same responder may press undo at once: the action is undone once.
    taken = session.execute(
        update(DeskAction)
        .where(col(DeskAction.id) == action.id, col(DeskAction.undone_at).is_(None))
        .values(undone_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(taken, "rowcount", 1):
        return None
    applied = action.before.get(APPLIED, {})
    threads = lock_threads(action.thread_ids, session=session)
    result = Undone(action, [], {})
    for thread_id in action.thread_ids:
        thread = threads.get(thread_id)
        if thread is None:
            result.skipped[thread_id] = NO_THREAD
            continue
        if action.kind in ("tag", "untag"):
            restore, conflict = _untag(thread, applied["tag"], added=action.kind == "tag")
        else:
            restore, conflict = _revert(thread, action.before.get(str(thread_id), {}), applied)
        if restore:
            session.execute(
                update(Thread)
                .where(col(Thread.id) == thread_id)
                .values(**restore, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        if conflict:
            result.skipped[thread_id] = conflict
        else:
            result.restored.append(thread_id)
    return result


def _untag(thread: Thread, tag: str, *, added: bool) -> tuple[dict[str, Any], str | None]:
    if (tag in thread.tags) != added:
        return {}, None  # already as it was before the action
    tags = [t for t in thread.tags if t != tag] if added else [*thread.tags, tag]
    return {"tags": tags}, None


def _revert(
    thread: Thread, before: Mapping[str, Any], applied: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    restore: dict[str, Any] = {}
    conflicts: list[str] = []
    for name, was in before.items():
        current, was, set_to = getattr(thread, name), _load(name, was), _load(name, applied.get(name))
        if current == set_to:
            restore[name] = was
        elif current != was:
            conflicts.append(_changed_since(name, current))
    return restore, "; ".join(conflicts) or None


def _changed_since(name: str, current: Any) -> str:
    if name == "assignee":
        return f"now held by {current}" if current else "released since"
    if name == "status":
        return f"now {current}"
    if name in ("snoozed_until", "snooze_until_reply"):
        return "snooze changed since"
    return f"{name} changed since"


def known_responders(*, session: Session) -> list[str]:
    """Every name that worked on this desk: took an action (a claim among them), replied, wrote a note, merged
    customers or had a thread open. Until there is a team roster, these are the names a thread can go to."""
    columns = (
        DeskAction.responder,
        Reply.responder,
        ThreadNote.responder,
        CustomerMerge.responder,
        Presence.responder,
    )
    names: Any = union(*(select(col(column).label("name")) for column in columns)).subquery()
    found = {one_line(name) for (name,) in session.execute(select(names.c.name))}
    return sorted(found - {""}, key=str.casefold)


def touch_presence(responder: str, thread_id: int | None, *, session: Session, now: datetime) -> None:
    """`responder` has this thread open (None: none), as of now. One row per responder, upserted."""
    responder = clean_name(responder)
    if thread_id is not None and session.get(Thread, thread_id) is None:
        raise LookupError(f"no thread {thread_id}")
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(Presence).values(responder=responder, thread_id=thread_id, seen_at=now)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=[col(Presence.responder)], set_={"thread_id": thread_id, "seen_at": now}
        )
    )


def add_note(thread_id: int, responder: str, text: str, *, session: Session, now: datetime) -> ThreadNote:
    thread = session.get(Thread, thread_id)
    if thread is None:
        raise LookupError(f"no thread {thread_id}")
    note = ThreadNote(thread_id=thread_id, responder=clean_name(responder), text=text, created_at=now)
    # Desks refresh when a thread's updated_at moves: a colleague's open thread shows the note.
    thread.updated_at = now
    session.add_all([note, thread])
    session.flush()
    return note


def saved_reply_uses(*, session: Session) -> dict[str, int]:
    rows = session.exec(
        select(Reply.template, func.count()).where(col(Reply.template).is_not(None)).group_by(Reply.template)
    )
    return {template: n for template, n in rows if template}


@dataclass
class ActivityBucket:
    start: datetime
    # Customer messages written in this hour (the brand's own posts are not activity).
    inbound: int
    # Mean of P(positive) - P(negative) over the scored ones; None when there are none.
    sentiment: float | None


def activity(*, session: Session, now: datetime, hours: int = 24) -> list[ActivityBucket]:
    """One bucket per hour, oldest first, the last one the hour now running; grouped in the database."""
    if hours < 1:
        raise ValueError(f"activity over {hours} hours: ask for 1 or more")
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = [end - timedelta(hours=hours - i) for i in range(hours)]
    if session.get_bind().dialect.name == "sqlite":
        hour = func.strftime("%Y-%m-%d %H", Mention.created_at)
    else:
        hour = func.to_char(func.timezone("UTC", Mention.created_at), "YYYY-MM-DD HH24")
    probs = col(Mention.sentiment_probs)
    positive, negative = probs["positive"].as_float(), probs["negative"].as_float()
    score = case(
        (
            or_(positive.is_not(None), negative.is_not(None)),
            func.coalesce(positive, 0) - func.coalesce(negative, 0),
        ),
        else_=None,
    )
    rows = session.exec(
        select(hour, func.count(), func.avg(score))
        .where(Mention.is_own == false(), col(Mention.created_at) >= starts[0], col(Mention.created_at) < end)
        .group_by(hour)
    )
    found = {datetime.strptime(key, "%Y-%m-%d %H").replace(tzinfo=UTC): (n, mean) for key, n, mean in rows}
    return [
        ActivityBucket(start, found.get(start, (0, None))[0], _float(found.get(start, (0, None))[1]))
        for start in starts
    ]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
