"""The record every reader yields, and the limits any record keeps whatever its format: how
deep it may nest, how large it may be, and that its text is text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engage_cli.strict import is_utf8_text

ERROR_KEY = "_error"  # what a failures file adds to each record; readers drop it


@dataclass(frozen=True)
class Record:
    """One input record: what was read (a dict unless the input was broken), where it
    started, and any problem found while reading it (a bad `:=` cell, broken JSON)."""

    line: int
    data: Any
    problems: tuple[str, ...] = ()


MAX_DEPTH = 32  # objects and arrays inside a record; no Engage field nests deeper than 2
# The characters one record may take, whatever the format: a CSV row or JSON Lines line, a
# record of a JSON document. As Python's csv module caps a cell (131,072); no request the API
# takes is larger (a whole batch is under 100 KB).
MAX_RECORD_CHARS = 131_072
TOO_LARGE = f"larger than {MAX_RECORD_CHARS:,} characters, the most a record may take"


def data_problems(value: Any) -> tuple[str, ...]:
    """What no request can carry: nesting deeper than MAX_DEPTH, text that is not text (bytes
    that were not UTF-8, a lone surrogate). Walked without recursion, so depth cannot crash it."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                return (f"nested more than {MAX_DEPTH} levels deep",)
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, str) and not is_utf8_text(key):
                    return (f"the key {_shown(key)} is not UTF-8 text",)
                stack.append((child, depth + 1))
        elif isinstance(item, str) and not is_utf8_text(item):
            return (f"{_shown(item)} is not UTF-8 text",)
    return ()


def plainly_sound(text: str) -> bool:
    """Whether JSON text can decode to nothing data_problems refuses: fewer containers than
    MAX_DEPTH (so none nests that deep), UTF-8 text itself, and no \\u escape that could be a
    lone surrogate (\\uD800-\\uDFFF all start \\uD). False only means: walk the value."""
    containers = text.count("{") + text.count("[")
    escapes = "\\ud" in text or "\\uD" in text
    return containers < MAX_DEPTH and not escapes and is_utf8_text(text)


def _shown(value: str) -> str:
    """A string with what is not text escaped: a byte that was not UTF-8 as \\xNN, a lone
    surrogate as \\uNNNN."""
    chars = []
    for char in value[:60]:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for an undecodable byte
            chars.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            chars.append(f"\\u{code:04x}")
        else:
            chars.append(char)
    return repr("".join(chars))
