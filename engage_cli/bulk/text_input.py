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
        self._head = ""  # what first_char read of a stream it cannot rewind, not yet read
        self._started = False  # whether anything was read: a byte order mark only leads

    def first_char(self) -> str:
        """The first character that is not white space ('' for an empty input). The white
        space before it is read a chunk at a time; a file is then rewound, so that it is
        never held (1 GB of blank lines is not 1 GB of memory), a pipe's is kept to be read."""
        stripped = self._head.lstrip()
        if stripped:
            return stripped[0]
        if not self._head and self._rewindable():
            start = self._stream.tell()
            found, marks = self._peek()
            self._stream.seek(start)
            self._stream.read(marks)
            return found
        found, _ = self._peek(keep=True)
        return found

    def _peek(self, keep: bool = False) -> tuple[str, int]:
        """Read on to the first character that is not white space (keeping what was read if
        `keep`); that character, and how many byte order marks leading the input it dropped."""
        marks = 0
        kept = [self._head]  # joined once: adding to a string a chunk at a time is quadratic
        try:
            while True:
                chunk = self._stream.read(CHUNK_CHARS)
                if not chunk:
                    return "", marks
                if not self._started:
                    unmarked = chunk.lstrip("\ufeff")
                    marks += len(chunk) - len(unmarked)
                    chunk = unmarked
                    self._started = bool(chunk)
                if keep:
                    kept.append(chunk)
                stripped = chunk.lstrip()
                if stripped:
                    return stripped[0], marks
        finally:
            self._head = "".join(kept)

    def _rewindable(self) -> bool:
        try:
            return self._stream.seekable()
        except (OSError, ValueError):
            return False

    def read(self, size: int) -> str:
        """At most `size` characters, '' at the end: first what first_char peeked, if any."""
        self._started = True
        if self._head:
            head, self._head = self._head[:size], self._head[size:]
            return head
        return self._stream.read(size)

    def bounded_lines(self, limit: int) -> Iterator[str | None]:
        """Each line, or None for a line longer than `limit`, skipped without being held:
        memory stays bounded whatever the input."""
        # What first_char peeked: blank lines, whole, then the start of the first other line.
        *whole, head = io.StringIO(self._head, newline="").readlines() or [""]
        self._head = ""
        self._started = True
        if head.endswith("\r"):  # a line, whether or not \n follows it
            line, head = self._whole_crlf(head)
            whole.append(line)
        for line in whole:
            yield line if len(line.rstrip("\r\n")) <= limit else None  # as a line read below
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
