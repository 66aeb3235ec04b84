"""The one definition of the identifiers Engage uses, shared by the CLI and the sandbox.

- An internal id (a user's or a list's `id`, and every pagination cursor) is 24 lower-case hex
  digits, increasing with creation time.
- A uid given on create is letters, digits and `_ - . @ +` (the current docs' example is
  `user_123`; Engage's own SDK tests use e-mail addresses and UUIDs), but not `.` or `..`
  alone: URL resolution eats those, so no later request could reach the user. Whatever
  creates a user (create, an upsert import) holds to it. Paths carry any uid percent-encoded,
  so a uid made elsewhere (an integration) may hold other characters.

Checks use fullmatch: `re.match` would accept a valid prefix, and `$` would accept a trailing
newline.
"""

from __future__ import annotations

import re

__all__ = [
    "INTERNAL_ID_PATTERN",
    "UID_CHARACTERS",
    "UID_PATTERN",
    "UID_RULE",
    "is_internal_id",
    "is_valid_uid",
]

INTERNAL_ID_PATTERN = re.compile(r"[0-9a-f]{24}")
# Said in words where a message names the rule.
UID_CHARACTERS = "letters, digits and _ - . @ +"
UID_RULE = f"{UID_CHARACTERS} (not . or .. alone)"
DOT_SEGMENTS = frozenset({".", ".."})
# ASCII only: str.isalnum() would also let through "é" or "٣".
UID_PATTERN = re.compile(r"[A-Za-z0-9_.@+-]+")


def is_internal_id(value: object) -> bool:
    """True for exactly 24 lower-case hex digits."""
    return isinstance(value, str) and INTERNAL_ID_PATTERN.fullmatch(value) is not None


def is_valid_uid(value: object) -> bool:
    """True for a non-empty uid of letters, digits and `_ - . @ +`, other than `.` and `..`
    (what create accepts)."""
    return (
        isinstance(value, str)
        and UID_PATTERN.fullmatch(value) is not None
        and value not in DOT_SEGMENTS
    )
