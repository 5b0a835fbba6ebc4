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
    Command("inbox.claim", "c", "claim", "Claim", "Assign the thread to me"),
    Command("inbox.done", "d", "resolve", "Done", "Mark the thread resolved"),
    Command("inbox.move", "m", "move", "Move", "Set the thread's status"),
    Command("inbox.view", "v", "next_view", "View", "Next view: awaiting, pending, resolved, all"),
    Command("inbox.down", "j", "cursor_down", "Down", "Next thread", show=False),
    Command("inbox.up", "k", "cursor_up", "Up", "Previous thread", show=False),
    Command("app.quit", "q", "app.quit", "Quit", "Leave earful"),
]

THREAD = [
    Command("thread.reply", "r", "focus_composer", "Reply", "Write a reply to the customer"),
    Command("thread.saved", "s", "saved_reply", "Saved", "Start from a saved reply"),
    Command("thread.send", "ctrl+s", "send", "Send", "Send the reply", priority=True),
    Command("thread.claim", "c", "claim", "Claim", "Assign the thread to me"),
    Command("thread.done", "d", "resolve", "Done", "Mark the thread resolved and go back"),
    Command("thread.move", "m", "move", "Move", "Set the thread's status"),
    Command("thread.back", "escape", "back", "Back", "Back to the inbox", priority=True),
]


def bindings(commands: list[Command]) -> list[BindingType]:
    return [command.binding() for command in commands]


class DeskCommands(Provider):
    """The palette lists the commands of the screen in front, with their keys."""

    def _commands(self) -> list[Command]:
        screen: Screen[object] = self.screen
        return list(getattr(screen, "COMMANDS_DECLARED", []))

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(
                f"{command.label} ({command.key})", partial(self._run, command), help=command.help
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            text = f"{command.label} ({command.key})"
            score = max(matcher.match(text), matcher.match(command.help))
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self._run, command), help=command.help)

    async def _run(self, command: Command) -> None:
        await self.screen.run_action(command.action)
