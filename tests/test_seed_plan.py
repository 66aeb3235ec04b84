"""The plan, a pure diff of a seed against what the account holds, as tables of cases."""

from __future__ import annotations

from typing import Any

import pytest

from engage_cli.seed.file import Seed, SeedList, SeedUser
from engage_cli.seed.plan import Plan, plan_apply, plan_down, same
from engage_cli.seed.render import lines
from engage_cli.seed.state import Holdings

NEWS = SeedList("news", {"title": "Newsletter", "description": "Weekly"})
BETA = SeedList("beta", {"title": "Beta"})
LISTS = {"news": NEWS, "beta": BETA}
HELD_LISTS = {
    "Newsletter": {"id": "l1", "title": "Newsletter", "description": "Weekly"},
    "Beta": {"id": "l2", "title": "Beta", "description": None},
}


def user(uid: str = "u1", **kw: Any) -> SeedUser:
    return SeedUser(
        uid,
        kw.pop("is_account", False),
        kw.pop("fields", {"first_name": "Ada"}),
        tuple(kw.pop("lists", ())),
        tuple(kw.pop("accounts", ())),
        tuple(kw.pop("events", ())),
    )


def stored(uid: str = "u1", **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "0" * 24,
        "uid": uid,
        "first_name": "Ada",
        "email": None,
        "meta": {"seed": "s"},
        "lists": [],
        "accounts": [],
        "is_account": False,
        "devices": [],
    }
    base.update(kw)
    return base


def plan_of(
    users: list[SeedUser],
    held: dict[str, dict[str, Any]],
    *,
    lists: dict[str, SeedList] | None = None,
    held_lists: dict[str, dict[str, Any]] | None = None,
    marked: dict[str, dict[str, Any]] | None = None,
    prune: bool = False,
) -> list[dict[str, Any]]:
    seed = Seed("s", LISTS if lists is None else lists, users)
    holdings = Holdings(HELD_LISTS if held_lists is None else held_lists, held, marked, "test")
    return plan_apply(seed, holdings, prune=prune).to_dict()["actions"]


ACME = user("acme", is_account=True, fields={})

# (case, seed users, held users, the actions expected)
CASES = [
    ("nothing differs: no action",
     [user()], {"u1": stored()}, []),
    ("missing: created with the mark",
     [user()], {},
     [{"action": "create", "kind": "user", "id": "u1",
       "fields": {"first_name": "Ada", "meta": {"seed": "s"}}}]),
    ("an account is created as one",
     [ACME], {},
     [{"action": "create", "kind": "account", "id": "acme",
       "fields": {"meta": {"seed": "s"}, "is_account": True}}]),
    ("a declared field differs: only it is updated",
     [user(fields={"first_name": "Ada", "email": "a@b.co"})],
     {"u1": stored(email="old@b.co", last_name="kept")},
     [{"action": "update", "kind": "user", "id": "u1",
       "changes": {"email": {"old": "old@b.co", "new": "a@b.co"}}}]),
    ("meta key by key; other keys left alone",
     [user(fields={"meta": {"plan": "pro", "seats": 3}})],
     {"u1": stored(meta={"seed": "s", "plan": "free", "seats": 3, "other": 1})},
     [{"action": "update", "kind": "user", "id": "u1",
       "changes": {"meta.plan": {"old": "free", "new": "pro"}}}]),
    ("true is not 1",
     [user(fields={"meta": {"vip": True}})], {"u1": stored(meta={"seed": "s", "vip": 1})},
     [{"action": "update", "kind": "user", "id": "u1",
       "changes": {"meta.vip": {"old": 1, "new": True}}}]),
    ("an unmarked user is adopted: the mark is added",
     [user()], {"u1": stored(meta={})},
     [{"action": "update", "kind": "user", "id": "u1",
       "changes": {"meta.seed": {"old": None, "new": "s"}}}]),
    ("a user that should be an account becomes one",
     [ACME], {"acme": stored("acme")},
     [{"action": "update", "kind": "account", "id": "acme",
       "changes": {"is_account": {"old": False, "new": True}}}]),
    ("created_at compares as a moment",
     [user(fields={"created_at": "2021-01-12T05:24:39Z"})],
     {"u1": stored(created_at="2021-01-12T05:24:39.000+00:00")}, []),
    ("new user: lists in the create, then accounts, then events in order",
     [ACME, user(lists=["news"], accounts=[("acme", "admin")],
                 events=[{"event": "A"}, {"event": "B", "value": 2}])],
     {"acme": stored("acme", is_account=True)},
     [{"action": "create", "kind": "user", "id": "u1",
       "fields": {"first_name": "Ada", "meta": {"seed": "s"}}, "lists": ["news"]},
      {"action": "join_accounts", "kind": "user", "id": "u1",
       "accounts": [{"id": "acme", "role": "admin"}]},
      {"action": "send_event", "kind": "user", "id": "u1", "event": {"event": "A"}},
      {"action": "send_event", "kind": "user", "id": "u1", "event": {"event": "B", "value": 2}}]),
    ("existing user: events are never sent again",
     [user(events=[{"event": "A"}])], {"u1": stored()}, []),
    ("joins a declared list it is not subscribed to; leaves the seed's list it is not given",
     [user(lists=["news"])],
     {"u1": stored(lists=[{"id": "l1", "subscribed": False}, {"id": "l2", "subscribed": True},
                          {"id": "other", "subscribed": True}])},
     [{"action": "join_lists", "kind": "user", "id": "u1", "lists": ["news"]},
      {"action": "leave_lists", "kind": "user", "id": "u1", "lists": ["beta"]}]),
    ("account memberships: join, change a role, leave the seed's own only",
     [ACME, user("acme2", is_account=True, fields={}),
      user(accounts=[("acme", None), ("acme2", "admin")])],
     {"acme": stored("acme", is_account=True), "acme2": stored("acme2", is_account=True),
      "u1": stored(accounts=[{"id": "acme2", "role": "member"}, {"id": "elsewhere"}])},
     [{"action": "join_accounts", "kind": "user", "id": "u1", "accounts": [{"id": "acme"}]},
      {"action": "set_role", "kind": "user", "id": "u1", "account": "acme2",
       "old": "member", "new": "admin"}]),
    ("a role not declared leaves the server's alone; an undeclared membership of the seed's "
     "account is left",
     [ACME, user(accounts=[("acme", None)]), user("u2")],
     {"acme": stored("acme", is_account=True),
      "u1": stored(accounts=[{"id": "acme", "role": "admin"}]),
      "u2": stored("u2", accounts=[{"id": "acme"}])},
     [{"action": "leave_account", "kind": "user", "id": "u2", "account": "acme"}]),
    ("a device is registered when its token is missing",
     [user(fields={"device_token": "t1", "device_platform": "ios"})],
     {"u1": stored(devices=[{"token": "t0", "platform": "ios"}])},
     [{"action": "update", "kind": "user", "id": "u1",
       "changes": {"device_token": {"old": None, "new": "t1"},
                   "device_platform": {"old": None, "new": "ios"}}}]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "users", "held", "expected"), CASES, ids=[c[0] for c in CASES])
def test_plan_apply(
    case: str, users: list[SeedUser], held: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    assert plan_of(users, held) == expected


LIST_CASES = [
    ("missing list: created", {}, [{"action": "create", "kind": "list", "id": "news",
                                    "fields": NEWS.fields}]),
    ("same title, same fields: nothing", {"Newsletter": HELD_LISTS["Newsletter"]}, []),
    ("same title, other description: updated by id",
     {"Newsletter": {"id": "l1", "title": "Newsletter", "description": "Monthly"}},
     [{"action": "update", "kind": "list", "id": "news", "list_id": "l1",
       "changes": {"description": {"old": "Monthly", "new": "Weekly"}}}]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "held", "expected"), LIST_CASES, ids=[c[0] for c in LIST_CASES])
def test_plan_lists(case: str, held: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    assert plan_of([], {}, lists={"news": NEWS}, held_lists=held) == expected


def test_prune_deletes_only_marked_users_the_file_no_longer_declares() -> None:
    marked = {"u1": stored(), "gone": stored("gone"), "acct": stored("acct", is_account=True)}
    actions = plan_of([user()], {"u1": stored()}, marked=marked, prune=True)
    assert actions == [
        {"action": "delete", "kind": "user", "id": "gone"},
        {"action": "delete", "kind": "account", "id": "acct"},
    ]
    assert plan_of([user()], {"u1": stored()}, marked=marked) == []  # without --prune


def test_down_deletes_marked_users_first_then_archives_lists_and_skips_the_unmarked() -> None:
    seed = Seed("s", LISTS, [ACME, user(), user("u2"), user("u3")])
    held = {"acme": stored("acme"), "u1": stored(), "u2": stored("u2", meta={"seed": "other"})}
    plan = plan_down(seed, Holdings(HELD_LISTS, held, None, "test"))
    assert [a.to_dict() for a in plan.actions] == [
        {"action": "delete", "kind": "user", "id": "u1"},
        {"action": "delete", "kind": "account", "id": "acme"},
        {"action": "archive", "kind": "list", "id": "news", "list_id": "l1"},
        {"action": "archive", "kind": "list", "id": "beta", "list_id": "l2"},
    ]
    assert plan.skipped == ["u2"]
    gone = plan_down(seed, Holdings({}, {}, None, "test"))
    assert gone.actions == [] and gone.skipped == []


def test_summary_counts_every_action_and_the_unchanged() -> None:
    seed = Seed("s", LISTS, [user(), user("u2", events=[{"event": "A"}])])
    plan = plan_apply(seed, Holdings(HELD_LISTS, {"u1": stored()}, None, "test"))
    summary = plan.summary()
    assert (summary["create"], summary["send_event"], summary["unchanged"]) == (1, 1, 3)
    assert sum(summary.values()) - summary["unchanged"] == len(plan.actions)


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        ("first_name", "A", "A", True),
        ("first_name", None, "A", False),
        ("seats", 3, 3.0, True),
        ("vip", True, 1, False),
        ("vip", 0, False, False),
        ("created_at", "2021-01-12T05:24:39.062+00:00", "2021-01-12T06:24:39.062+01:00", True),
        ("created_at", "2021-01-12", "2021-01-13", False),
    ],
)
def test_same(name: str, old: Any, new: Any, expected: bool) -> None:
    assert same(name, old, new) is expected


def test_the_terminal_diff_escapes_data_and_colours_only_its_own_marks() -> None:
    hostile = "\x1b[31mred\x1b[0m [bold]x[/bold]"
    seed = Seed("s", {}, [user(fields={"first_name": hostile})])
    held = {"u1": stored(first_name="Ada")}
    plan = plan_apply(seed, Holdings({}, held, None, "test"))
    plain = "\n".join(lines(plan, color=False))
    assert "\x1b" not in plain
    assert '~ user u1\n    first_name: "Ada" -> "\\u001b[31mred\\u001b[0m [bold]x[/bold]"' in plain
    assert plain.endswith("1 to update, 0 to delete, 0 membership changes, 0 events to send.")
    coloured = lines(plan, color=True)
    assert coloured[0] == "\x1b[33m~ user u1\x1b[0m"
    assert "\x1b[31mred" not in "".join(coloured)


def test_an_empty_plan_says_so() -> None:
    out = lines(Plan("s", [], unchanged=2), color=False)
    assert out[0].startswith("No changes")
    assert out[-1].endswith("; 2 unchanged.")
