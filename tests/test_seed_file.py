"""Seed files: what they may hold, and every bad one refused (exit 2) before any request with
one message naming the place: the YAML line, or the JSON path."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from engage_cli.errors import UsageError
from engage_cli.seed import file as seed_file
from tests.harness import run

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "seed.yaml"

GOOD = """\
name: checkout
lists:
  news: {title: Newsletter, description: Weekly, double_optin: false}
accounts:
  - {id: acme, first_name: Acme Inc, meta: {plan: enterprise}}
users:
  - id: u144
    first_name: Ada
    email: ada@example.com
    created_at: 2021-01-12T05:24:39.062+00:00
    meta: {plan: pro, seats: 3}
    lists: [news]
    accounts: [{id: acme, role: admin}, acme2]
    events:
      - {event: Signup}
  - id: "load-${n}"
    repeat: 3
    email: "load${n}+${env:RUN_ID}@example.com"
"""


def load(text: str, name: str = "seed.yaml", env: dict[str, str] | None = None) -> seed_file.Seed:
    from engage_cli.seed.source import parse

    data, places = parse(name, text, name.endswith((".yaml", ".yml")))
    return seed_file.build(data, places, env or {})


def test_a_good_file_reads_with_templates_expanded_and_bodies_validated() -> None:
    seed = load(GOOD.replace(", acme2]", "]"), env={"RUN_ID": "r1"})
    assert seed.name == "checkout"
    assert seed.lists["news"].fields == {
        "title": "Newsletter",
        "description": "Weekly",
        "double_optin": False,
    }
    assert [u.uid for u in seed.users] == ["acme", "u144", "load-1", "load-2", "load-3"]
    acme, ada, *loads = seed.users
    assert acme.is_account and not ada.is_account
    # A YAML date stays the text it was written as: the API takes (and answers) text.
    assert ada.fields["created_at"] == "2021-01-12T05:24:39.062+00:00"
    assert ada.lists == ("news",) and ada.accounts == (("acme", "admin"),)
    assert ada.events == ({"event": "Signup"},)
    assert [u.fields["email"] for u in loads] == [f"load{n}+r1@example.com" for n in (1, 2, 3)]


def test_the_example_file_reads() -> None:
    seed = seed_file.load(str(EXAMPLE), io.StringIO(), {"RUN_ID": "ci"})
    assert seed.name == "checkout" and len(seed.users) > 20


def test_dollar_dollar_is_a_literal_and_env_values_are_not_templates() -> None:
    seed = load(
        'name: s\nusers:\n  - {id: "u-${n}", repeat: 2, first_name: "$${n} ${env:X}"}\n',
        env={"X": "${n}"},
    )
    assert [u.fields["first_name"] for u in seed.users] == ["${n} ${n}", "${n} ${n}"]


def test_a_json_file_and_stdin_read_the_same() -> None:
    data = {"name": "j", "users": [{"id": "u1", "meta": {"a": 1}}]}
    from_json = load(json.dumps(data), "seed.json")
    assert from_json.users[0].fields == {"meta": {"a": 1}}
    stdin = seed_file.load("-", io.StringIO(json.dumps(data)), {})
    assert stdin == from_json


# (what is wrong, file name, text, the place the message names, words of the problem)
BAD = [
    ("YAML syntax", "s.yaml", "name: s\nusers: [\n", "s.yaml, line 3", "not valid YAML"),
    ("JSON syntax", "s.json", '{"name": "s",\n "users": [}', "s.json, line 2 column",
     "not valid JSON"),
    ("unknown top-level key", "s.yaml", "name: s\nuser: []\n", "line 2 (user)",
     "'user' is not a field"),
    ("unknown field", "s.yaml", "name: s\nusers:\n  - id: u1\n    frist_name: A\n",
     "line 4 (users[0].frist_name)", "'frist_name' is not a field of a user"),
    ("unknown list field", "s.yaml", "name: s\nlists:\n  a: {title: A, colour: red}\n",
     "line 3 (lists.a.colour)", "'colour' is not a field of a list"),
    ("undeclared list key", "s.yaml", "name: s\nlists: {a: {title: A}}\nusers:\n  - id: u1\n"
     "    lists: [a, b]\n", "line 5 (users[0].lists[1])", "'b' is not a list of this file"),
    ("undeclared account", "s.yaml", "name: s\nusers:\n  - id: u1\n    accounts: [{id: acme}]\n",
     "line 4 (users[0].accounts[0].id)", "'acme' is not an account of this file"),
    ("duplicate id after expansion", "s.yaml", "name: s\nusers:\n  - id: load-2\n"
     "  - {id: 'load-${n}', repeat: 3}\n", "line 4 (users[1].id)",
     "'load-2' (repeat n=2) is declared twice"),
    ("repeat without ${n}", "s.yaml", "name: s\nusers:\n  - {id: u1, repeat: 3}\n",
     "line 3 (users[0].id)", "needs ${n} in its id"),
    ("${n} outside repeat", "s.yaml", "name: s\nusers:\n  - {id: 'u${n}'}\n",
     "line 3 (users[0].id)", "${n} is only for an entry with repeat"),
    ("unset env", "s.yaml", "name: s\nusers:\n  - id: u1\n    email: 'a+${env:NOPE_X}@b.co'\n",
     "line 4 (users[0].email)", "NOPE_X is not set"),
    ("model refuses a field", "s.yaml", "name: s\nusers:\n  - id: u1\n    email: not-an-email\n",
     "line 4 (users[0].email)", "is not an email address"),
    ("model refuses in JSON", "s.json", json.dumps({"name": "s", "users": [
        {"id": "u0"}, {"id": "u1"}, {"id": "u2"}, {"id": "u3", "email": "x"}]}),
     "s.json, users[3].email", "is not an email address"),
    ("model refuses a meta value", "s.yaml", "name: s\nusers:\n  - id: u1\n    meta: {a: [1]}\n",
     "line 4 (users[0].meta)", "must be a string, number or boolean"),
    ("bad uid", "s.yaml", "name: s\nusers:\n  - id: 'a b'\n", "line 3 (users[0].id)",
     "may only be letters"),
    ("bad event", "s.yaml", "name: s\nusers:\n  - id: u1\n    events: [{value: 3}]\n",
     "line 4 (users[0].events[0])", "event: is required"),
    ("missing name", "s.yaml", "users: []\n", "s.yaml, line 1", "name is required"),
    ("bad name", "s.yaml", "name: 'a b'\n", "line 1 (name)", "is not a seed name"),
    ("empty file", "s.yaml", "", "s.yaml", "the file is empty"),
    ("not a mapping", "s.yaml", "- a\n", "s.yaml, line 1", "a seed file is a mapping"),
    ("duplicate key", "s.yaml", "name: s\nname: t\n", "line 2 (name)", "'name' is given twice"),
    ("owner mark in meta", "s.yaml", "name: s\nusers:\n  - id: u1\n    meta: {seed: x}\n",
     "line 4 (users[0].meta.seed)", "owner mark"),
    ("is_account in users", "s.yaml", "name: s\nusers:\n  - {id: u1, is_account: true}\n",
     "line 3 (users[0].is_account)", "declare accounts under accounts"),
    ("duplicate list title", "s.yaml", "name: s\nlists:\n  a: {title: T}\n  b: {title: T}\n",
     "line 4 (lists.b.title)", "a title names one list"),
    ("repeat not a number", "s.yaml", "name: s\nusers:\n  - {id: 'u${n}', repeat: many}\n",
     "line 3 (users[0].repeat)", "repeat must be a whole number"),
    ("wrong extension", "s.txt", "name: s\n", "s.txt", "YAML (.yaml, .yml) or JSON (.json)"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "name", "text", "place", "problem"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_file_exits_2_naming_the_place_before_any_request(
    what: str, name: str, text: str, place: str, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    for command in (["plan"], ["apply", "--yes"], ["down", "--yes"]):
        # No reply is scripted: any request would fail the test.
        result = run(["seed", *command, str(path)], [])
        assert result.exit_code == 2, (what, result.stderr)
        assert result.sent == []
        assert f"{tmp_path}/{place}" in result.stderr or place in result.stderr, result.stderr
        assert problem in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_an_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run(["seed", "plan", str(tmp_path / "missing.yaml")], [])
    assert result.exit_code == 2 and "Cannot read the seed file" in result.stderr


def test_a_message_in_json_output_is_one_json_object(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nusers:\n  - {id: u1, email: nope}\n", encoding="utf-8")
    result = run(["seed", "plan", str(path), "-o", "json"], [])
    assert result.exit_code == 2
    error = json.loads(result.stderr)["error"]
    assert error["exit_code"] == 2 and "line 3 (users[0].email)" in error["message"]


def test_load_raises_usage_error_not_anything_else() -> None:
    with pytest.raises(UsageError):
        load("name: s\nusers: {a: 1}\n")
    with pytest.raises(UsageError):
        load("name: s\n" + "a:\n" + "  " * 40 + "- x\n")


def test_aliases_that_expand_beyond_reason_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from engage_cli.seed import source

    monkeypatch.setattr(source, "MAX_VALUES", 10_000)  # the same check, sooner
    laughs = "name: s\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]\n" for n in range(1, 9)
    )
    with pytest.raises(UsageError, match="values once its aliases expand"):
        load(laughs)
