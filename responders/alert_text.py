"""What an alert says: why it fired in a sentence, the figures, two or three example mentions, and the command that
opens the thread. Plain text only: every channel (e-mail, Slack, a webhook) shows it as text, and the mention text
inside it was written by strangers, so it is cleaned of control characters and never formatted as markup."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from responders.report_model import network_name
from responders.safe import one_line, strip_controls
from store.models import AlertFiring

TITLE_CHARS = 300
EXAMPLES = 3
# An example is a pointer to the thread, not a copy of it (Reddit posts run to pages).
EXAMPLE_CHARS = 500

# How each figure is labelled in the message; anything else is shown by its key.
_LABELS = {
    "urgency": "urgency",
    "tier": "tier",
    "followers": "followers",
    "count": "mentions in the window",
    "expected": "usual for this hour of the week",
    "z": "z-score",
    "threshold": "fires at z",
    "share": "negative share",
    "expected_share": "usual negative share",
    "customers": "customers",
    "mentions": "mentions",
    "similarity": "similarity at least",
    "window_minutes": "window (minutes)",
    "silent_minutes": "silent for (minutes)",
    "due_in_minutes": "SLA due in (minutes)",
    "overdue_minutes": "SLA overdue by (minutes)",
    "complaint": "complaint probability",
}
# Internal bookkeeping a reader does not need.
_HIDDEN = {
    "mention_id",
    "members",
    "attachments",
    "source",
    "week",
    "baseline",
    "told_customers",
    "notified_at",
    "representative_mention_id",
    "first_at",
    "last_at",
    "window_start",
    "window_end",
    "cohesion",
}


def alert_message(firing: AlertFiring) -> tuple[str, str]:
    """The title and the plain-text body of `firing`'s alert (or update, when its revision is above 0)."""
    prefix = "Update: " if firing.revision > 0 else ""
    title = one_line(prefix + (firing.title or firing.reason or firing.rule), TITLE_CHARS)
    lines = [one_line(firing.reason or firing.title)]
    figures = format_figures(firing.figures)
    if figures:
        lines += ["", figures]
    examples = list(firing.examples or [])[:EXAMPLES]
    if examples:
        lines += ["", "Examples:" if len(examples) > 1 else "Example:"]
        lines += [example_line(e) for e in examples]
    threads = [t for t in firing.thread_ids or [] if isinstance(t, int)]
    if threads:
        lines += ["", f"Open it: earful tui --thread {threads[0]}"]
        if len(threads) > 1:
            shown = ", ".join(str(t) for t in threads[:10])
            more = f" and {len(threads) - 10} more" if len(threads) > 10 else ""
            lines.append(f"Threads: {shown}{more}")
    elif firing.kind == "silent":
        lines += ["", "See: earful status"]
    lines += ["", f"Rule: {one_line(firing.rule)} ({firing.kind}). History: earful alerts history"]
    return title, "\n".join(lines) + "\n"


def format_figures(figures: Mapping[str, Any]) -> str:
    parts = []
    for key, value in figures.items():
        if key in _HIDDEN or value is None or isinstance(value, dict | list):
            continue
        parts.append(f"{_LABELS.get(key, key.replace('_', ' '))}: {_number(key, value)}")
    return "; ".join(parts)


def _number(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if key in ("share", "expected_share", "complaint"):
            return f"{value:.0%}"
        return f"{value:,.1f}"
    return one_line(str(value), 100)


def example_line(example: Mapping[str, Any]) -> str:
    """`- @handle on X, 14:02 UTC (thread 12): the text`."""
    handle = one_line(str(example.get("handle") or ""), 60)
    who = f"@{handle.lstrip('@')}" if handle else "someone"
    where = network_name(str(example.get("network") or ""))
    when = ""
    created = example.get("created_at")
    if isinstance(created, str):
        try:
            when = f", {datetime.fromisoformat(created):%Y-%m-%d %H:%M} UTC"
        except ValueError:
            when = ""
    thread = f" (thread {example['thread_id']})" if example.get("thread_id") else ""
    text = strip_controls(str(example.get("text") or "")).strip()
    text = one_line(text, EXAMPLE_CHARS)
    return f"- {who} on {where}{when}{thread}: {text}"
