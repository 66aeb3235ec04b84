"""Small helpers around pages: limiting a stream and telling people how to go on."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any


def take(pages: Iterator[list[Any]], max_items: int | None) -> Iterator[list[Any]]:
    """Pass pages through until max_items have been yielded, then stop asking for more."""
    if max_items is None:
        yield from pages
        return
    remaining = max_items
    for page in pages:
        chunk = list(islice(page, remaining))
        remaining -= len(chunk)
        if chunk:
            yield chunk
        if remaining <= 0:
            return


def next_cursor(page: dict[str, Any], backward: bool) -> str | None:
    """Where the following page starts: the server's `next_cursor` (`previous_cursor` going
    backward) when it sends one, else the edge item's id when `has_more` says there is more."""
    key = "previous_cursor" if backward else "next_cursor"
    if key in page:
        return str(page[key]) if page[key] else None
    items = page.get("data") or []
    if not items or not page.get("has_more"):
        return None
    edge = items[0] if backward else items[-1]
    return str(edge["id"]) if isinstance(edge, dict) and edge.get("id") else None


def cursor_param(page: dict[str, Any], backward: bool) -> str:
    """The query parameter that carries the cursor, in the edition the server speaks."""
    if backward:
        return "previous_cursor" if "previous_cursor" in page else "before_id"
    return "next_cursor" if "next_cursor" in page else "after_id"


CURSOR_PARAMS = ("after_id", "before_id", "next_cursor", "previous_cursor")


CURSOR_OPTIONS = {
    "next_cursor": "--next-cursor",
    "previous_cursor": "--previous-cursor",
    "after_id": "--after-id",
    "before_id": "--before-id",
}


def following_page(page: Any, backward: bool) -> tuple[str, str] | None:
    """(option, cursor) that show the following page, in the style the server answered in
    (`--next-cursor` for a cursor edition, `--after-id` for the 2021 one), or None when
    this was the last page."""
    if not isinstance(page, dict) or not page.get("data"):
        return None
    cursor = next_cursor(page, backward)
    if not cursor:
        return None
    return CURSOR_OPTIONS[cursor_param(page, backward)], cursor
