"""Making text from the internet safe to put in exports: spreadsheets, HTML pages, alert messages, terminals.

Anyone can post a mention, so every export treats mention text, handles and display names as hostile. Which
characters are unsafe is defined once, in store.text; this module adds what each kind of file needs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from store.text import one_line, printable, strip_controls

__all__ = ["csv_safe", "json_line", "one_line", "printable", "strip_controls"]

# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection"); TAB and CR too,
# because some of them strip those before looking.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What json.dumps(ensure_ascii=False) leaves raw but a terminal acts on (DEL, C1 such as CSI U+009B, bidi
# overrides), a JavaScript reader takes for a line end (U+2028, U+2029), or UTF-8 cannot write (a lone
# surrogate). It escapes the C0 controls itself.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula, and that cannot drive a terminal
    the file is printed on.

    Control characters go first (strip_controls: CR and CRLF become LF), so dropping one cannot uncover a formula
    start; then text starting with = + - @ or TAB gets a leading apostrophe (the OWASP advice; Excel and
    LibreOffice hide it). Numbers are written as they are: we produce those ourselves, and "-3" must stay a
    number. None is an empty cell.
    """
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    text = strip_controls(str(value))
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group(0)):04x}"


def json_line(value: Any) -> str:
    """One JSON line, readable (non-ASCII text as itself) yet safe on a terminal: every control character,
    DEL, C1 and bidi override escaped as \\uXXXX. The data is unchanged: a JSON reader gets every character back.

    Those characters can only stand inside JSON strings, so escaping them in the dumped text is exact.
    """
    return _JSON_UNSAFE.sub(_json_escape, json.dumps(value, ensure_ascii=False))
