"""Making text from the internet safe to put in exports: spreadsheets, HTML pages, alert messages, terminals.

Anyone can post a mention, so every export treats mention text, handles and display names as hostile.
"""

from __future__ import annotations

import re

# C0 controls except TAB and LF, DEL, and C1 controls. ESC (start of ANSI sequences that recolour or rewrite a
# terminal) and BEL are among them. Bidi marks stay: they are how right-to-left text is written.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile("\r\n?")

# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection"); TAB and CR too,
# because some of them strip those before looking.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def strip_controls(text: str) -> str:
    """`text` without control characters, keeping newlines and tabs.

    CR and CRLF become LF first, so line breaks survive and a lone CR cannot overwrite a line on a terminal.
    Only the ESC of an escape sequence goes; the rest stays as visible, harmless characters.
    """
    return _CONTROLS.sub("", _LINE_BREAKS.sub("\n", text))


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula.

    Text starting with = + - @, TAB or CR gets a leading apostrophe (the OWASP advice; Excel and LibreOffice
    hide it). Numbers are written as they are: we produce those ourselves, and "-3" must stay a number.
    None is an empty cell.
    """
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def one_line(text: str, limit: int | None = None) -> str:
    """`text` cleaned of controls and folded onto one line (for titles and table cells), cut to `limit`."""
    folded = " ".join(strip_controls(text).split())
    if limit is not None and len(folded) > limit:
        return folded[: max(limit - 1, 0)] + "…"
    return folded
