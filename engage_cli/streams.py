"""All process state a command touches: streams, TTY flags and the environment.

One injectable object (as in httpie), so tests never patch sys.stdout or os.environ.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Streams:
    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]
    stdin_isatty: bool = False
    stdout_isatty: bool = False
    stderr_isatty: bool = False
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_process(cls) -> Streams:
        return cls(
            stdin=sys.stdin,
            stdout=sys.stdout,
            stderr=sys.stderr,
            stdin_isatty=_isatty(sys.stdin),
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=_isatty(sys.stderr),
            environ=os.environ,
        )

    @property
    def no_color(self) -> bool:
        return "NO_COLOR" in self.environ or self.environ.get("TERM") == "dumb"

    @property
    def interactive(self) -> bool:
        """Can we ask the user a question (a prompt or a confirmation)?"""
        return self.stdin_isatty and self.stderr_isatty
