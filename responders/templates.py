"""Saved replies: named texts in configuration with {variables} filled from the customer and the thread."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

# Only plain {name} fields: no attribute or index access, so a template can never reach into an object.
FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


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
        return FIELD.sub(lambda m: values.get(m.group(1)) or m.group(0), self.text)


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
