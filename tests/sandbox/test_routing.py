"""The app's pipeline: authentication before routing and before the fault options, paths with
and without /v1, and which route a path reaches."""

from __future__ import annotations

import pytest

from engage_cli.sandbox.app import SandboxAPI
from engage_cli.sandbox.store import SandboxStore
from engage_cli.sandbox.web import WRONG_CREDENTIALS

from .conftest import FULL, Caller, basic

WRONG = basic("nope", "nope")


@pytest.mark.parametrize("prefix", ["/v1", ""])
def test_every_path_is_served_with_and_without_v1(call: Caller, prefix: str) -> None:
    assert call("POST", f"{prefix}/users", {"id": "u1"}).status == 200
    assert call("GET", f"{prefix}/users/u1").json["uid"] == "u1"
    assert call("PUT", f"{prefix}/users/u1", {"first_name": "A"}).json["first_name"] == "A"
    assert call("POST", f"{prefix}/users/u1/events", {"event": "e"}).json == {"status": "ok"}
    assert [u["uid"] for u in call("GET", f"{prefix}/users").json["data"]] == ["u1"]
    assert call("DELETE", f"{prefix}/users/u1").json == {"status": "ok"}


@pytest.mark.parametrize(
    "target", ["/nowhere", "/v1/nowhere", "/users/u1/other", "/", "/v2/users", "/v1/users/u1"]
)
@pytest.mark.parametrize("auth", [None, WRONG, "Bearer x"])
def test_wrong_credentials_are_401_on_any_path(call: Caller, target: str, auth: str | None) -> None:
    answer = call("GET", target, auth=auth)
    assert (answer.status, answer.json) == (401, {"error": WRONG_CREDENTIALS})


def test_unknown_path_with_good_credentials_is_404(call: Caller) -> None:
    assert call("GET", "/users/u1/other").status == 404
    assert call("PATCH", "/v1/nowhere").status == 404


def test_unauthenticated_requests_never_spend_the_rate_limit(store: SandboxStore) -> None:
    call = Caller(SandboxAPI(store, rate_limit=2, clock=lambda: 5.0))
    for _ in range(10):
        assert call("GET", "/v1/users", auth=WRONG).status == 401
    assert [call("GET", "/v1/users").status for _ in range(3)] == [200, 200, 429]


def test_unauthenticated_requests_are_not_failed_by_the_fail_rate(store: SandboxStore) -> None:
    call = Caller(SandboxAPI(store, fail_rate=1.0))
    assert call("GET", "/v1/users", auth=None).status == 401
    assert call("GET", "/v1/users", auth=FULL).status == 503


def test_a_uid_that_looks_like_a_literal_segment_is_still_a_user(call: Caller) -> None:
    assert call("PUT", "/v1/users/merge", {"first_name": "M"}).status == 200
    assert call("GET", "/v1/users/merge").json["first_name"] == "M"
