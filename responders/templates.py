"""Saved replies: named texts in configuration with {variables} filled from the customer and the thread."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

# Only plain {name} fields: no attribute or index access, so a template can never reach into an object.
FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
# The responder's sign-off at the end of a saved reply: "^{agent}", "- {agent}", "— {agent}" or a bare "{agent}".
SIGN_OFF = re.compile(r"\s*(?:[\^~]|[-–—]\s*)?\{agent\}\W*$")


def unfilled(text: str) -> list[str]:
    """The {variables} still in `text`, each once, in order: what the responder must fill before it is sent."""
    return list(dict.fromkeys(FIELD.findall(text)))


@dataclass(frozen=True)
class Filled:
    """A saved reply filled in, and where the responder types next: the first blank left to fill (selected, so
    typing replaces it), else just before the sign-off, else the end."""

    text: str
    cursor: tuple[int, int]
    blanks: tuple[str, ...] = ()


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class SavedReply:
    name: str
    text: str
    key: str = ""

    def variables(self) -> list[str]:
        return FIELD.findall(self.text)

    def fill(self, values: dict[str, str]) -> str:
        """Fill what is known; leave an unknown {field} visible for the responder to complete."""
        return self.filled(values).text

    def filled(self, values: dict[str, str]) -> Filled:
        out: list[str] = []
        length, last = 0, 0
        blanks: list[tuple[int, int, str]] = []
        sign_off = SIGN_OFF.search(self.text)
        sign_at: int | None = None
        for match in FIELD.finditer(self.text):
            out.append(self.text[last : match.start()])
            length += match.start() - last
            if sign_off is not None and sign_at is None and match.start() >= sign_off.start():
                sign_at = length - (match.start() - sign_off.start())
            value = values.get(match.group(1)) or match.group(0)
            if value == match.group(0):
                blanks.append((length, length + len(value), match.group(1)))
            out.append(value)
            length += len(value)
            last = match.end()
        out.append(self.text[last:])
        text = "".join(out)
        if sign_off is not None and sign_at is None:
            sign_at = length - (last - sign_off.start())
        if blanks:
            cursor = blanks[0][:2]
        elif sign_at is not None:
            cursor = (sign_at, sign_at)
        else:
            cursor = (len(text.rstrip()), len(text.rstrip()))
        return Filled(text, cursor, tuple(dict.fromkeys(name for *_, name in blanks)))


def load_saved_replies(path: Path | None) -> list[SavedReply]:
    if path is None or not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: not valid TOML ({exc}); fix the file or remove it") from exc
    replies = []
    for i, entry in enumerate(data.get("reply", []), start=1):
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("text"):
            raise TemplateError(f"{path}: [[reply]] number {i} needs a name and a text")
        replies.append(
            SavedReply(name=str(entry["name"]), text=str(entry["text"]), key=str(entry.get("key", "")))
        )
    return replies


def first_name(display_name: str) -> str:
    name = display_name.strip().split()
    return name[0] if name else ""
