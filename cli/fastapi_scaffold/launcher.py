"""The console script's entry point. The CLI's own imports (typer, click, rich) take a few
tenths of a second; a Ctrl-C among them printed Python's traceback. Here it gets the CLI's
one-line message and exit code: nothing has been written by then."""

import os
import sys

from fastapi_scaffold.errors import INTERRUPTED_BEFORE_WRITING, Interrupted


def main() -> None:
    try:
        from fastapi_scaffold.cli import main as run_cli
    except KeyboardInterrupt:
        message = f"error: {INTERRUPTED_BEFORE_WRITING}"
        if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):  # red, as click prints it
            message = f"\033[31m{message}\033[0m"
        print(message, file=sys.stderr)
        sys.exit(Interrupted.exit_code)
    run_cli()
