"""How Typer's completion classes shape help text for a shell, shared by the fast path and
the generator (which records how Rich renders the shaped text)."""

from __future__ import annotations


def zsh_escape(text: str) -> str:
    """Typer's escaping of a value or help inside zsh's `_arguments '*: :((...))'`."""
    return (
        text.replace('"', '""')
        .replace("'", "''")
        .replace("$", "\\$")
        .replace("`", "\\`")
        .replace(":", r"\\:")
    )


def spaced(text: str | None) -> str:
    """Fish takes one candidate a line: every whitespace character becomes a space (what
    Typer's `re.sub(r"\\s", " ", ...)` does, without importing re)."""
    return "".join(" " if char.isspace() else char for char in text or "")
