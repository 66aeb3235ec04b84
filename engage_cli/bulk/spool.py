"""Between the check pass and the send pass: every record the check pass read, with the request
it validated, kept in a temporary file so that the send pass neither reads nor validates the
input again (half of a run's work) and sends exactly what was checked, even if the input file
changes meanwhile. On disk, read back entry by entry: memory stays flat whatever the input's
size. Entries are marshal's encoding (this process writes and reads them, in a file nobody else
can open): a tenth of JSON's cost each way, which was a fifth of a --batch import's CPU.

A spool that cannot be written (a full disk) is dropped, and the send pass reads the input
again as it would without one.
"""

from __future__ import annotations

import json
import marshal
import struct
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest


class Spool:
    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        try:
            self._file = tempfile.TemporaryFile(prefix="engage-bulk-", suffix=".spool")  # noqa: SIM115 (kept open between the passes; close() ends it)
        except OSError:
            self._file = None

    @property
    def usable(self) -> bool:
        """True if every record added is kept: the writes still buffered are flushed first,
        as a full disk (a file size limit) shows only then."""
        if self._file is not None:
            try:
                self._file.flush()
            except OSError:
                self.close()
        return self._file is not None

    def add(self, record: Record, request: APIRequest) -> None:
        """Keep one checked record; on a write error the spool is dropped, never raised."""
        if self._file is None:
            return
        entry = [
            record.line,
            record.data,
            request.method,
            request.path,
            request.params,
            request.body,
            request.needs_secret,
        ]
        try:
            self._file.write(_encode(entry))
        except OSError:
            self.close()

    def items(self) -> Iterator[tuple[Record, APIRequest]]:
        """The records in the order they were read, each with its request."""
        if self._file is None:
            raise RuntimeError("the spool was dropped")
        self._file.flush()
        self._file.seek(0)
        for entry in _entries(self._file):
            line, data, method, path, params, body, needs_secret = entry
            yield (
                Record(line, data),
                APIRequest.checked(method, path, params, body, needs_secret),
            )

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()  # a TemporaryFile is gone once closed
            except OSError:
                pass  # what the buffer held could not be written: dropped with the rest
            finally:
                self._file = None


HEADER = struct.Struct("<cI")  # how the entry is encoded, and its length


def _encode(entry: list[Any]) -> bytes:
    try:
        return _framed(b"m", marshal.dumps(entry))
    except ValueError:  # a value of a subclass (an Enum of str): JSON writes its value
        # Checked records hold only text that UTF-8 can carry: no lone surrogate reaches here.
        text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        return _framed(b"j", text.encode("utf-8"))


def _framed(kind: bytes, data: bytes) -> bytes:
    return HEADER.pack(kind, len(data)) + data


def _entries(file: IO[bytes]) -> Iterator[list[Any]]:
    while header := file.read(HEADER.size):
        kind, size = HEADER.unpack(header)
        data = file.read(size)
        entry: list[Any] = marshal.loads(data) if kind == b"m" else json.loads(data)
        yield entry
