"""Every stored mention, oldest first, in pages: exports of any size in constant memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlmodel import Session, col, select

from store.models import Identity, Mention, Thread


def iter_mentions(*, session: Session, page: int = 1000) -> Iterator[dict[str, Any]]:
    """One plain dict per mention, keyset-paged on id (no OFFSET, so the last page costs what the first does)."""
    after = 0
    while True:
        rows = session.exec(
            select(Mention, Identity, Thread)
            .join(Identity, col(Identity.id) == Mention.identity_id)
            .join(Thread, col(Thread.id) == Mention.thread_id)
            .where(col(Mention.id) > after)
            .order_by(col(Mention.id))
            .limit(page)
        ).all()
        if not rows:
            return
        for mention, identity, thread in rows:
            yield {
                "network": mention.network,
                "native_id": mention.native_id,
                "thread": {
                    "id": thread.id,
                    "conversation_id": thread.conversation_id,
                    "status": thread.status,
                },
                "author": {"handle": identity.handle, "display_name": identity.display_name},
                "brand": mention.brand,
                "is_own": mention.is_own,
                "created_at": mention.created_at.isoformat(),
                "language": mention.language,
                "reply_to_native_id": mention.reply_to_native_id,
                "text": mention.text,
                "scores": {
                    "sentiment": mention.sentiment,
                    "sentiment_probs": mention.sentiment_probs,
                    "complaint": mention.complaint,
                    "severity": mention.severity_label,
                    "urgency": mention.urgency,
                    "tier": mention.urgency_tier,
                    "explanation": mention.explanation,
                    "risks": mention.risks,
                },
                "entities": mention.entities,
            }
        after = rows[-1][0].id or after
