"""Drafts: what a responder has typed on a thread and not sent yet, one per thread and responder."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, delete, select

from store.models import Draft, Thread

# More than any network takes (Reddit: 10,000), less than a paste of a whole file.
DRAFT_LIMIT = 20_000


def get_draft(thread_id: int, responder: str, *, session: Session) -> Draft | None:
    return session.exec(
        select(Draft).where(Draft.thread_id == thread_id, Draft.responder == responder)
    ).first()


def save_draft(
    thread_id: int,
    responder: str,
    text: str,
    *,
    mode: str,
    template: str | None,
    session: Session,
    now: datetime,
) -> Draft | None:
    """Keep `text` as this responder's draft on the thread (an empty one removes the draft)."""
    if not text.strip():
        discard_draft(thread_id, responder, session=session)
        return None
    if len(text) > DRAFT_LIMIT:
        raise ValueError(f"a draft is at most {DRAFT_LIMIT:,} characters; this one has {len(text):,}")
    if session.get(Thread, thread_id) is None:
        raise LookupError(f"no thread {thread_id}")
    draft = get_draft(thread_id, responder, session=session) or Draft(
        thread_id=thread_id, responder=responder, text=text
    )
    draft.text, draft.mode, draft.template, draft.updated_at = text, mode, template, now
    session.add(draft)
    session.flush()
    return draft


def discard_draft(thread_id: int, responder: str, *, session: Session) -> bool:
    """Remove the draft; whether there was one."""
    result = session.exec(
        delete(Draft).where(col(Draft.thread_id) == thread_id, col(Draft.responder) == responder)
    )
    return bool(result.rowcount)


def drafted(thread_ids: Sequence[int], responder: str, *, session: Session) -> set[int]:
    """Which of these threads hold a draft of this responder's, in one query."""
    if not thread_ids:
        return set()
    return set(
        session.exec(
            select(Draft.thread_id).where(
                col(Draft.thread_id).in_(list(thread_ids)), col(Draft.responder) == responder
            )
        )
    )
