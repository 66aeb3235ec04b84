"""Files a live run holds: an exclusive lock for the run's life, and who holds one.

A journal being written or resumed, and a failures file named by --failures (or an input
being retried in place), are each held by one run at a time: a second run refuses before
sending anything, saying which process holds the file. flock locks belong to an open file
(not a process), so two runs in one process exclude each other too; the kernel drops them
when the holder dies, even by `kill -9`.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from engage_cli.errors import UsageError

PROC_LOCKS = Path("/proc/locks")


class Held(Exception):
    """The file is locked by another live run; `holder` says which, as far as known."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is in use by {holder}")
        self.path = path
        self.holder = holder


def try_lock(fd: int, path: Path) -> None:
    """Lock fd exclusively, or raise Held naming who has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise Held(path, holder(fd)) from None


def holder(fd: int) -> str:
    """ "another run (process N)" for the process holding an flock on fd's file, as Linux's
    /proc/locks says; "another run" where that cannot be read."""
    inode = os.fstat(fd).st_ino
    try:
        lines = PROC_LOCKS.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return "another run"
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF"; "1: -> FLOCK ..." waits for one.
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode):
            return f"another run (process {parts[4]})"
    return "another run"


def hold(path: Path, what: str) -> tuple[int, bool]:
    """Hold `path` for this run: (an fd whose closing releases it, whether it was created
    here). UsageError naming the holder if another live run holds it. The lock is checked
    to be on the file the name still means, as a run that ends may move another over it."""
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644)
            created = True
        except FileExistsError:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # removed meanwhile: try again
            created = False
        try:
            try_lock(fd, path)
            if _same(fd, path):
                return fd, created
        except Held as exc:
            os.close(fd)
            raise refusal(what, exc) from None
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # replaced while we locked: lock the file it names now


def refusal(what: str, exc: Held) -> UsageError:
    return UsageError(
        f"The {what} {exc.path} is in use by {exc.holder}; nothing was sent.",
        hint="Wait for that run to end, or give this one another file.",
    )


def _same(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
