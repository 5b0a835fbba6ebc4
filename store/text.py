"""The one definition of the characters that text from the internet may not carry into a terminal, a file or
a record, and the two ways of taking them out: dropped (what is stored and exported) or shown (what a terminal
prints, so a responder sees that something was there).

Here in the store, the lowest layer, so names and tags are cleaned when stored and every layer above shares the
same rules: responders.safe builds the exports on it, tui.text the desk, the CLI its output.
"""

from __future__ import annotations

import re

# C0 controls except TAB and LF, DEL, and C1 controls. ESC (the start of the sequences that retitle a terminal,
# write its clipboard with OSC 52 or clear it) and BEL are among them; so is CSI's one-character form U+009B.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# What a terminal must not be handed as it is: the controls, and the bidi embeddings, overrides and isolates,
# which reorder the rest of a line ("Trojan source") and so can make an id or a name read as another.
# The marks (U+200E, U+200F, U+061C) stay: they are how right-to-left text is written.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("\r\n?")


def strip_controls(text: str) -> str:
    """`text` without control characters, keeping newlines and tabs.

    CR and CRLF become LF first, so line breaks survive and a lone CR cannot overwrite a line on a terminal.
    Only the ESC of an escape sequence goes; the rest stays as visible, harmless characters.
    """
    return _CONTROLS.sub("", _LINE_BREAKS.sub("\n", text))


def one_line(text: str, limit: int | None = None) -> str:
    """`text` cleaned of controls and folded onto one line (for names, titles, table cells), cut to `limit`."""
    folded = " ".join(strip_controls(text).split())
    if limit is not None and len(folded) > limit:
        return folded[: max(limit - 1, 0)] + "…"
    return folded


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)  # the control picture: ESC is ␛, BEL ␇
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` safe to hand to a terminal, every unsafe character shown instead of acted on: ESC as ␛, the other
    C0 controls and DEL as their control pictures, C1 controls and bidi overrides as `\\x9b`, `\\u202e`.

    Line breaks (CR, CRLF) become LF; with `one_line` all whitespace folds into single spaces.
    """
    text = _UNPRINTABLE.sub(_shown, _LINE_BREAKS.sub("\n", text))
    return " ".join(text.split()) if one_line else text


def is_printable(text: str) -> bool:
    """Whether `text` holds nothing printable() would change (line breaks aside)."""
    return _UNPRINTABLE.search(_LINE_BREAKS.sub("\n", text)) is None
