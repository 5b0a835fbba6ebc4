"""How the inbox fits the terminal, from 80x24 to 250x70: column widths that grow with the window (the customer
shares the extra width with the message), and the views as a sidebar, or as one line when the window is narrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text

from tui.text import compact_count, literal

# Below this many columns the sidebar folds into one line above the list: its 20 columns are the message's.
NARROW = 100
SIDEBAR = 20
# (label, key, width); None: worked out from the window by column_widths.
COLUMNS = (
    ("", "sel", 1),
    ("Urgency", "urgency", 9),
    ("SLA", "sla", 4),
    ("N", "net", 1),
    ("Status", "status", 8),
    ("Owner", "owner", None),
    ("Customer", "customer", None),
    ("Message", "message", None),
)
# Each cell has a space of padding either side; the table's vertical scrollbar takes one column.
_PADDING = 2
_SCROLLBAR = 1
# (least, most) of the columns that grow; the message takes whatever is left, at least its least.
_OWNER = (8, 14)
_CUSTOMER = (12, 40)
_MESSAGE = 20
SHORT_VIEWS = {
    "inbox": "inbox",
    "urgent": "urg",
    "unassigned": "unas",
    "mine": "mine",
    "snoozed": "snz",
    "pending": "pend",
    "resolved": "done",
    "all": "all",
}


def table_width(screen_width: int) -> int:
    return screen_width - (SIDEBAR if screen_width >= NARROW else 0)


def column_widths(width: int) -> dict[str, int]:
    """The width of each column in a table `width` columns wide."""
    fixed = {key: w for _, key, w in COLUMNS if w is not None}
    left = width - _SCROLLBAR - _PADDING * len(COLUMNS) - sum(fixed.values())
    owner, customer = _OWNER[0], _CUSTOMER[0]
    spare = left - owner - customer - _MESSAGE
    if spare < 0:
        # Narrower than 80 columns: the message keeps half of what there is, the names share the rest.
        message = max(left // 2, 8)
        owner = max((left - message) // 3, 3)
        customer = max(left - message - owner, 3)
        return {**fixed, "owner": owner, "customer": customer, "message": message}
    grow_owner = min(spare // 6, _OWNER[1] - owner)
    grow_customer = min((spare - grow_owner) // 3, _CUSTOMER[1] - customer)
    message = _MESSAGE + spare - grow_owner - grow_customer
    return {**fixed, "owner": owner + grow_owner, "customer": customer + grow_customer, "message": message}


def sidebar_text(
    views: Sequence[str], current: str, counts: Mapping[str, int], described: str | None
) -> Text:
    """The views with their counts, one a line; under them what the list is filtered by (None: a filter with
    an error, so nothing is shown)."""
    text = Text()
    for i, name in enumerate(views, start=1):
        count = f"{counts[name]:>5}" if name in counts else "    –"
        text.append(f"{i} {name:<10}{count}\n", style="bold reverse" if name == current else "")
    if described is None:
        text.append("\nfilter not applied\n", style="bold red")
    elif described:
        text.append("\nfiltered\n", style="bold yellow")
        text.append_text(literal(described, "yellow"))
    return text


def view_strip(views: Sequence[str], current: str, counts: Mapping[str, int], described: str | None) -> Text:
    """The sidebar folded into one line: `1 inbox 41k  2 urg 230  …` and whether a filter is on."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, name in enumerate(views, start=1):
        count = compact_count(counts[name]) if name in counts else "–"
        text.append(
            f"{i} {SHORT_VIEWS.get(name, name)} {count}", style="bold reverse" if name == current else ""
        )
        text.append(" ")
    if described is None:
        text.append(" filter not applied", style="bold red")
    elif described:
        text.append(" filtered", style="bold yellow")
    return text
