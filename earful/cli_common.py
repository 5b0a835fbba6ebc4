"""What every `earful` command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="earful.toml to use (default: $EARFUL_CONFIG, then ~/.config)"),
]
