"""How a thread's parts read on the desk: its messages, our replies with their state, internal notes, and the
customer's record beside them. Text from the internet is shown as written, never as markup."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from store.models import Mention, Reply, ReplyStatus, ThreadNote
from store.queries import ThreadView
from tui.text import SENTIMENT_STYLES, ago, handle_text, literal, plural, tier_badge, why


def message_text(mention: Mention, handle: str, reply: Reply | None = None, *, now: datetime) -> Text:
    head = Text()
    head.append_text(
        literal(
            handle_text(mention.network, handle) or "unknown",
            "bold cyan" if mention.is_own else "bold",
            one_line=True,
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


def reply_text(reply: Reply, now: datetime, *, keys: str = "") -> Text:
    """One of our replies: who, its state, the network's reason when it did not go out, and (`keys`) what the
    responder can do about it."""
    style = {"sent": "green", "failed": "bold red", "cancelled": "dim"}.get(reply.status, "yellow")
    text = Text()
    text.append_text(literal(f"↳ {reply.responder}", "bold cyan", one_line=True))
    text.append(f"  {reply.status}", style=style)
    text.append(f"  {ago(reply.sent_at or reply.created_at, now)} ago", style="dim")
    if reply.error and reply.status not in (ReplyStatus.SENT, ReplyStatus.CANCELLED):
        # The network's own words: shown as written, never as markup or a terminal escape.
        text.append_text(literal(f": {reply.error}", style))
    if keys:
        text.append(f"\n{keys}", style="bold")
    text.append("\n")
    text.append_text(literal(reply.text, "dim strike" if reply.status == ReplyStatus.CANCELLED else ""))
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
        text.append_text(literal(handle_text(identity.network, identity.handle), "bold", one_line=True))
        text.append(f"  {plural(identity.followers, 'follower')}\n", style="dim")
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
