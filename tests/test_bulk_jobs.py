"""What each bulk command builds for a record, and the check pass: exact messages, bodies and
choices where mutation testing (tests/benchmarks/mutation.py on bulk/jobs.py) found them loose."""

from __future__ import annotations

from typing import Any

import pytest

from engage_cli.bulk import jobs
from engage_cli.bulk.csv_records import USER_CSV
from engage_cli.bulk.records import Record
from engage_cli.endpoints import create_list, delete_user
from engage_cli.errors import UsageError

UPSERT = jobs.users_import_job("upsert")


def invalid(job: jobs.Job, data: Any) -> jobs.InvalidRecord:
    with pytest.raises(jobs.InvalidRecord) as caught:
        jobs.prepare(job, Record(7, data))
    return caught.value


def test_an_id_and_a_uid_that_differ_are_refused_unless_id_is_engages_own() -> None:
    assert invalid(UPSERT, {"id": "a", "uid": "b"}).message == (
        "line 7: invalid user: id and uid differ: give one of them."
    )
    exported = {"id": "a" * 24, "uid": "u1"}  # users list's export: id is Engage's internal id
    assert jobs.prepare(UPSERT, Record(7, exported)).path == "/users/u1"


@pytest.mark.parametrize("lists", [["paid"], ["id"], ["grid", "l2"]])
def test_list_ids_import_as_given_even_when_they_contain_id(lists: list[str]) -> None:
    request = jobs.build_user_upsert({"id": "u1", "lists": lists})
    assert (request.method, request.path, request.body) == ("PUT", "/users/u1", {"lists": lists})


def test_an_exports_list_objects_import_as_their_ids() -> None:
    data = {"id": "u1", "first_name": "A", "lists": [{"id": "l1", "title": "T"}, {"id": "l2"}]}
    assert jobs.build_user_upsert(data).body == {"first_name": "A", "lists": ["l1", "l2"]}


@pytest.mark.parametrize("lists", [[], None])
def test_no_lists_sends_no_lists(lists: list[str] | None) -> None:
    # An export's user in no list: nothing to subscribe to (and nothing to unsubscribe from).
    assert jobs.build_user_upsert({"id": "u1", "first_name": "A", "lists": lists}).body == {
        "first_name": "A"
    }
    assert jobs.build_user_create({"id": "u1", "lists": lists}).body == {"id": "u1"}


@pytest.mark.parametrize("lists", ["l1", ["l1", ""], ["l1", 3], {"id": "l1"}])
def test_lists_that_are_not_a_list_of_ids_are_refused_by_name(lists: Any) -> None:
    assert invalid(UPSERT, {"id": "u1", "lists": lists}).message == (
        "line 7: invalid user: lists: must be a list of list ids."
    )


def test_requests_to_a_collection_share_one_route() -> None:
    # POST /lists (seed apply) names no id: its requests go through one worker, in order.
    assert jobs.route_key(create_list({"title": "A"})) == "/lists"
    assert jobs.route_key(delete_user("a@b.co")) == "a%40b.co"


def test_only_requests_with_a_batch_form_become_batch_items() -> None:
    with pytest.raises(ValueError) as caught:
        jobs.batch_item(delete_user("u1"))
    assert str(caught.value) == "DELETE /users/u1 has no batch form"


def test_a_usage_error_from_a_build_keeps_its_hint_and_ends_with_one_full_stop() -> None:
    # A uid the path cannot carry: the error of `users delete ..`, with its hint, and the line.
    error = invalid(jobs.USERS_DELETE, {"uid": ".."})
    assert (error.message, error.hint) == ("line 7: '..' cannot be a user id.", "Give the user id.")

    def build(data: dict[str, Any]) -> Any:
        raise UsageError("no full stop here", hint="A hint.")

    error = invalid(jobs.Job("x", USER_CSV, build, "X /x", "x {file}"), {"id": "u1"})
    assert (error.message, error.hint) == ("line 7: no full stop here.", "A hint.")


def test_the_check_pass_keeps_the_first_hint_its_problems_give() -> None:
    records = [Record(2, {"uid": "a"}), Record(3, {}), Record(4, {"uid": "."}),
               Record(5, {"uid": ".."})]  # fmt: skip
    checked = jobs.check_all(records, jobs.USERS_DELETE)
    assert checked.problems == [
        "line 3: invalid user: id: is required.",
        "line 4: '.' cannot be a user id.",
        "line 5: '..' cannot be a user id.",
    ]
    assert checked.hint == "Give the user id."
    assert checked.error("x.csv").hint == "Give the user id."


def test_the_check_pass_samples_the_first_request_that_needs_the_secret() -> None:
    # The credentials a run needs are checked on one request: the first needing the secret
    # (an upsert carrying an email), else the first.
    records = [Record(2, {"id": "u1"}), Record(3, {"id": "u2", "email": "a@b.co"}),
               Record(4, {"id": "u3", "email": "c@d.co"}), Record(5, {"id": "u4"})]  # fmt: skip
    checked = jobs.check_all(records, UPSERT)
    assert checked.sample is not None and checked.sample.path == "/users/u2"
    checked = jobs.check_all(records[:1], UPSERT)
    assert checked.sample is not None and checked.sample.path == "/users/u1"


@pytest.mark.parametrize(("invalid_count", "tail"), [(20, ""), (21, "\n  ... and 1 more")])
def test_the_check_pass_error_counts_only_the_problems_it_does_not_show(
    invalid_count: int, tail: str
) -> None:
    checked = jobs.Checked(read=invalid_count, valid=0)
    checked.problems = [f"line {n}: bad." for n in range(jobs.MAX_PROBLEMS_SHOWN)]
    assert checked.error("f").message.endswith("  line 19: bad." + tail)
