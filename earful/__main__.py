"""`earful` / `python -m earful`: the command line, with known failures shown as a cause and a fix."""

from __future__ import annotations

import sys


def main() -> None:
    from earful.cli import app
    from earful.errors import explain

    try:
        # Without standalone mode click returns the code of `typer.Exit(code)` instead of exiting with it.
        code = app(standalone_mode=False)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException as exc:  # noqa: BLE001 - every error gets a sentence, not a traceback
        message = explain(exc)
        if message is None:
            raise
        print(f"earful: {message}", file=sys.stderr)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
