"""What every `earful` command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="earful.toml to use (default: $EARFUL_CONFIG, then ~/.config)"),
]


def echo_text(text: str, *, err: bool = False, one_line: bool = False) -> None:
    """Print a line that holds stored text (from a network, a CRM file, a server's error): escape sequences,
    C0 and C1 controls, DEL and bidi overrides are shown (␛, \\x9b), never run by the terminal. Every command's
    output of such text goes through here."""
    from store.text import printable  # imported here: it brings the store, and --help must stay instant

    typer.echo(printable(text, one_line=one_line), err=err)


def echo_json(value: Any) -> None:
    """One JSON line for scripts, readable and terminal-safe (responders.safe.json_line)."""
    from responders.safe import json_line

    typer.echo(json_line(value))
