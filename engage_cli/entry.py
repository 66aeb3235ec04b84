"""The `engage` console script: answers Tab and --version before importing the app.

Every Tab press runs `engage`, and Typer alone takes several times Python's own start-up
to import; so a completion request is answered from the generated command tree
(engage_cli.tab) and `engage --version` from the package, neither importing Typer, Click,
Rich, httpx or pydantic. Everything else, and whatever the tree cannot answer exactly, goes
to the Typer app, which gives the same answers (tests/test_tab.py).
"""

from __future__ import annotations

import os
import sys

from engage_cli.tab import COMPLETE_VAR


def main() -> None:
    args = sys.argv[1:]
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction and not args:
        _complete(instruction)
    elif args == ["--version"]:
        from engage_cli import __version__

        _exit(f"engage {__version__}", 0)
    from engage_cli.app import main as run_app

    run_app()


def _complete(instruction: str) -> None:
    from engage_cli.tab.answer import Fallback, complete

    try:
        text, status = complete(os.environ, instruction)
    except Fallback:
        return  # the app answers
    _exit(text, status)


def _exit(text: str | None, status: int) -> None:
    if text is not None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    sys.exit(status)
