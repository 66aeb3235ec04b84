"""The JSON Lines reader skips the walk of a record's values when its text shows there is
nothing to find (bulk/records.plainly_sound): it must never skip a record the walk refuses."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engage_cli.bulk.json_records import record_from_json
from engage_cli.bulk.records import MAX_DEPTH, data_problems, plainly_sound

# Text with what the walk looks for: lone surrogates, and bytes that were not UTF-8.
hostile_text = st.one_of(
    st.text(max_size=8),
    st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=4),
    st.binary(max_size=6).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), hostile_text),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=12,
)


def deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


@given(values, st.booleans())
def test_text_judged_sound_holds_nothing_the_walk_refuses(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    if plainly_sound(text):
        assert data_problems(value) == ()


def test_the_shortcut_keeps_every_problem() -> None:
    for value in (deep(MAX_DEPTH + 1), {"name": "\udce9"}, {"\ud800": 1}, ["\ud83d"]):
        for ascii_only in (True, False):
            text = json.dumps(value, ensure_ascii=ascii_only)
            assert not plainly_sound(text)
            assert record_from_json(1, value, text=text).problems == data_problems(value) != ()


def test_a_plain_record_is_judged_by_its_text() -> None:
    text = '{"id": "u1", "email": "a@b.c", "meta": {"plan": "pro", "tags": ["x"]}}'
    assert plainly_sound(text)
    assert not plainly_sound(text.replace("pro", "pr\\udce9"))
    assert not plainly_sound("[" * MAX_DEPTH + "]" * MAX_DEPTH)
