"""Every desk command declared once: its key, its footer text, its tooltip and its palette entry.

Bindings and the command palette are both generated from these lists, so they can never disagree. Each binding
has an id, so keys can be remapped from settings (`[desk.keys]` in earful.toml: id = "key").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider

from responders.desk import VIEWS

if TYPE_CHECKING:
    from textual.screen import Screen


@dataclass(frozen=True)
class Command:
    id: str
    key: str
    action: str
    label: str
    help: str
    show: bool = True
    priority: bool = False

    def binding(self) -> Binding:
        return Binding(
            self.key,
            self.action,
            self.label,
            show=self.show,
            tooltip=self.help,
            id=self.id,
            priority=self.priority,
        )


INBOX = [
    Command("inbox.open", "enter", "open_thread", "Open", "Open the thread under the cursor"),
    Command("inbox.reply", "r", "reply", "Reply", "Open the thread with the reply box ready"),
    # Early, so the footer of an 80-column window still shows where every other key is.
    Command("app.help", "question_mark", "app.help", "Keys", "Every key on this screen"),
    Command(
        "inbox.claim",
        "c",
        "claim",
        "Claim",
        "Assign the selected threads (or the one under the cursor) to me",
    ),
    Command(
        "inbox.assign", "a", "assign", "Assign", "Assign the selected threads to a colleague, or unassign"
    ),
    Command("inbox.done", "d", "resolve", "Done", "Mark the selected threads resolved"),
    Command("inbox.move", "m", "move", "Move", "Set the selected threads' status"),
    Command(
        "inbox.snooze", "z", "snooze", "Snooze", "Snooze until a time, or until the customer writes again"
    ),
    Command("inbox.wake", "Z", "wake", "Wake", "End the snooze of the selected threads", show=False),
    Command("inbox.tag", "t", "tag", "Tag", "Tag the selected threads (prefix with - to remove the tag)"),
    Command("inbox.undo", "u", "undo", "Undo", "Undo my last action"),
    Command(
        "inbox.select", "space", "toggle_select", "Select", "Select or unselect the thread under the cursor"
    ),
    Command("inbox.select_all", "ctrl+a", "select_all", "All", "Select every thread shown", show=False),
    Command("inbox.unselect", "escape", "clear", "Clear", "Clear the selection", show=False),
    Command(
        "inbox.filter",
        "slash",
        "filter",
        "Filter",
        'Filter as brand terms are written: tier:critical (refund OR "never arrived") -net:reddit, '
        "net: brand: tier: sent: lang: tag: from:, a customer's name",
    ),
    Command("inbox.customer", "o", "customer", "Customer", "Open the customer's record", show=False),
    Command("inbox.view", "v", "next_view", "View", "Next view", show=False),
    Command("inbox.view_back", "V", "previous_view", "Previous view", "Previous view", show=False),
    *[
        Command(f"inbox.view{i}", str(i), f"view({i})", name.title(), description, show=False)
        for i, (name, description) in enumerate(VIEWS.items(), start=1)
    ],
    Command("inbox.down", "j", "cursor_down", "Down", "Next thread", show=False),
    Command("inbox.up", "k", "cursor_up", "Up", "Previous thread", show=False),
    Command("inbox.top", "g", "cursor_top", "Top", "First thread", show=False),
    Command("inbox.bottom", "G", "cursor_bottom", "Bottom", "Last thread", show=False),
    Command("inbox.page_down", "ctrl+d", "page_down", "Half page down", "Half a page down", show=False),
    Command("inbox.page_up", "ctrl+u", "page_up", "Half page up", "Half a page up", show=False),
    Command(
        "inbox.alerts", "exclamation_mark", "app.alerts", "Alerts", "The alerts that fired lately", show=False
    ),
    Command("app.quit", "q", "app.quit", "Quit", "Leave earful"),
]

THREAD = [
    Command("thread.reply", "r", "focus_composer", "Reply", "Write a reply to the customer"),
    Command(
        "thread.note",
        "n",
        "note",
        "Note",
        "Write an internal note: colleagues see it, the customer never does",
    ),
    Command("thread.saved", "s", "saved_reply", "Saved", "Start from a saved reply"),
    Command("thread.send", "ctrl+s", "send", "Send", "Send the reply to the customer", priority=True),
    Command(
        "thread.save_note",
        "ctrl+s",
        "save_note",
        "Save note",
        "Save the internal note: colleagues see it, the customer never does",
        priority=True,
    ),
    Command("thread.discard", "ctrl+g", "discard_draft", "Discard", "Throw the draft away (asks first)"),
    Command("thread.retry", "R", "retry_reply", "Retry", "Send the reply that did not go out again"),
    Command(
        "thread.cancel",
        "X",
        "cancel_reply",
        "Cancel reply",
        "Take back the reply that did not go out; its text comes back into the reply box",
    ),
    Command("thread.claim", "c", "claim", "Claim", "Assign the thread to me"),
    Command("thread.assign", "a", "assign", "Assign", "Assign the thread to a colleague, or unassign"),
    Command("thread.done", "d", "resolve", "Done", "Mark the thread resolved and go back"),
    Command("thread.move", "m", "move", "Move", "Set the thread's status"),
    Command(
        "thread.snooze", "z", "snooze", "Snooze", "Snooze until a time, or until the customer writes again"
    ),
    Command("thread.tag", "t", "tag", "Tag", "Tag the thread (prefix with - to remove the tag)"),
    Command("thread.undo", "u", "undo", "Undo", "Undo my last action"),
    Command(
        "thread.customer",
        "o",
        "customer",
        "Customer",
        "Open the customer's record: every network, every thread",
    ),
    Command("thread.down", "j", "scroll_down", "Down", "Scroll the conversation down", show=False),
    Command("thread.up", "k", "scroll_up", "Up", "Scroll the conversation up", show=False),
    Command("thread.back", "escape", "back", "Back", "Back to the inbox", priority=True),
    Command("app.help", "question_mark", "app.help", "Keys", "Every key on this screen"),
]

CUSTOMER = [
    Command("customer.open", "enter", "open_thread", "Open", "Open the highlighted thread"),
    Command("customer.notes", "e", "edit_notes", "Notes", "Edit the customer's notes"),
    Command("customer.tags", "t", "edit_tags", "Tags", "Edit the customer's tags"),
    Command("customer.tier", "T", "set_tier", "Tier", "Set the customer's tier"),
    Command("customer.merge", "M", "merge", "Merge", "Merge the highlighted suggestion into this customer"),
    Command("customer.unmerge", "U", "unmerge", "Unmerge", "Undo the latest merge into this customer"),
    Command("customer.detach", "x", "detach", "Detach", "Give the highlighted identity a record of its own"),
    Command("customer.back", "escape", "back", "Back", "Back to where you were", priority=True),
    Command("customer.down", "j", "cursor_down", "Down", "Next row of the focused list", show=False),
    Command("customer.up", "k", "cursor_up", "Up", "Previous row of the focused list", show=False),
    Command("app.help", "question_mark", "app.help", "Keys", "Every key on this screen"),
]


ALERTS = [
    Command("alerts.open", "enter", "open_thread", "Open", "Open the alert's thread"),
    Command("alerts.refresh", "r", "refresh", "Refresh", "Read the latest firings now"),
    Command("alerts.back", "escape", "back", "Back", "Back to where you were", priority=True),
    Command("alerts.down", "j", "cursor_down", "Down", "Next alert", show=False),
    Command("alerts.up", "k", "cursor_up", "Up", "Previous alert", show=False),
    Command("app.help", "question_mark", "app.help", "Keys", "Every key on this screen"),
]


def bindings(commands: list[Command]) -> list[BindingType]:
    return [command.binding() for command in commands]


class DeskCommands(Provider):
    """The palette lists the commands of the screen in front, with their keys."""

    def _commands(self) -> list[Command]:
        screen: Screen[object] = self.screen
        return list(getattr(screen, "COMMANDS_DECLARED", []))

    def _applies(self, command: Command) -> bool:
        """Only what can be done now: the screen's check_action decides (no thread, no selection...)."""
        name = command.action.split("(")[0]
        if "." in name:
            return True
        check = getattr(self.screen, "check_action", None)
        return check is None or check(name, ()) is True

    async def discover(self) -> Hits:
        for command in filter(self._applies, self._commands()):
            yield DiscoveryHit(
                f"{command.label} ({command.key})", partial(self._run, command), help=command.help
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in filter(self._applies, self._commands()):
            text = f"{command.label} ({command.key})"
            score = max(matcher.match(text), matcher.match(command.help))
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self._run, command), help=command.help)

    async def _run(self, command: Command) -> None:
        await self.screen.run_action(command.action)
