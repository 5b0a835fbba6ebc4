"""The one definition of what text from the internet may not carry to a terminal, and the JSON lines built on it."""

from __future__ import annotations

import json

from responders.safe import json_line
from store.text import one_line, printable, strip_controls


def test_printable_shows_every_unsafe_character_instead_of_handing_it_to_the_terminal():
    hostile = "id \x1b]0;title\x07 \x1b]52;c;ZXZpbA==\x07\x1b[2J \x9b31m \x7f \x00 \u202eexe.txt\u2066x\u2069"
    assert printable(hostile) == (
        "id ␛]0;title␇ ␛]52;c;ZXZpbA==␇␛[2J \\x9b31m ␡ ␀ \\u202eexe.txt\\u2066x\\u2069"
    )
    # Line breaks stay line breaks (a lone CR would overwrite the line); tabs stay; so do the bidi marks that
    # right-to-left writing uses, and every ordinary character.
    assert printable("a\r\nb\rc\td \u200f שלום é 😀") == "a\nb\nc\td \u200f שלום é 😀"
    assert printable(" a\n\tb \x1b ", one_line=True) == "a b ␛"


def test_stored_names_lose_their_controls_but_keep_their_words():
    assert strip_controls("a\x1b[31mb\x07\x00c\r\nd\x9b") == "a[31mbc\nd"
    assert one_line("  Jane\x1b]0;x\x07\n Smith ", 20) == "Jane]0;x Smith"
    assert one_line("x" * 30, 10) == "x" * 9 + "…"


def test_json_lines_escape_what_a_terminal_would_run_and_give_the_data_back():
    value = {"text": "x\x1b\x7f\x9b\u2028\u202e\ud800 é😀", "n": 3}
    line = json_line(value)
    assert line == '{"text": "x\\u001b\\u007f\\u009b\\u2028\\u202e\\ud800 é😀", "n": 3}'
    assert json.loads(line) == value
    line.encode("utf-8")  # a lone surrogate, escaped, can be written out
