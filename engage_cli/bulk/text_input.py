"""The text a reader reads: a stream whose start can be peeked to sniff the format, read in
bounded pieces so that memory stays flat whatever the input."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

CHUNK_CHARS = 64 * 1024  # how much of a JSON document is decoded at a time


class TextInput:
    """A text stream whose first characters can be peeked to sniff the format; a leading
    byte order mark is dropped whatever the stream's encoding."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.name = name
        self._stream = stream
        self._head = ""

    def first_char(self) -> str:
        """The first character that is not white space ('' for an empty input)."""
        if self._head.strip():
            return self._head.strip()[0]
        while True:
            char = self._stream.read(1)
            if not char:
                return ""
            if char == "\ufeff" and not self._head:
                continue
            self._head += char
            if not char.isspace():
                return char

    def read(self, size: int) -> str:
        """At most `size` characters, '' at the end: first what first_char peeked, if any."""
        head, self._head = self._head, ""
        return head or self._stream.read(size)

    def bounded_lines(self, limit: int) -> Iterator[str | None]:
        """Each line, or None for a line longer than `limit`, skipped without being held:
        memory stays bounded whatever the input."""
        # What first_char peeked: blank lines, whole, then the start of the first other line.
        *whole, head = io.StringIO(self._head, newline="").readlines() or [""]
        self._head = ""
        for line in whole:
            yield line if len(line) <= limit else None
        while True:
            line = head + self._stream.readline(max(limit + 1 - len(head), 0))
            if not line:
                return
            line, head = self._whole_crlf(line)
            if len(line) <= limit or line.endswith(("\n", "\r")):
                yield line
                continue
            while True:  # the rest of the long line, read and dropped
                rest, head = self._whole_crlf(self._stream.readline(CHUNK_CHARS))
                if not rest or rest.endswith(("\n", "\r")):
                    break
            yield None

    def _whole_crlf(self, line: str) -> tuple[str, str]:
        """A line ending in \r, with the \n after it if there is one (readline's size may have
        cut the two apart, making one line two), and what was read past it."""
        if not line.endswith("\r"):
            return line, ""
        after = self._stream.read(1)
        return (line + after, "") if after == "\n" else (line, after)
