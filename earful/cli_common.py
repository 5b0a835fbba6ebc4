"""What every `earful` command shares."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from store import Store

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


def read_store(url: str | None) -> Store:
    """The database of a command that only reads (status, report, exports, histories): opened, never created. A
    mistyped path makes no directory and no empty database; it is a NoStore error that says where earful looked,
    and where the last demo's database is, if there is one."""
    from store import Store
    from store.engine import NoStore

    try:
        store = Store(url, create=False)
        store.migrate()
    except NoStore as exc:
        raise NoStore(f"{exc}{_demo_hint()}") from None
    return store


def _demo_hint() -> str:
    from earful.demo_store import latest_demo_database

    latest = latest_demo_database()
    if latest is None:
        return ""
    return f". The last demo's database is {latest}: EARFUL_DATABASE__URL='sqlite:///{latest}'"


def earful_command() -> str:
    """How to run this earful from the user's shell: `earful` when that name on PATH is this very one (after
    `make demo` the venv is not on PATH), else the path of this one's script, relative when it is under the
    working directory; `python -m earful` when there is no script."""
    script = Path(sys.executable).parent / "earful"
    found = shutil.which("earful")
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return "earful"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m earful"
    try:
        shown = str(script.absolute().relative_to(Path.cwd()))
        shown = shown if "/" in shown else f"./{shown}"
    except ValueError:
        shown = str(script.absolute())
    return shlex.quote(shown)
