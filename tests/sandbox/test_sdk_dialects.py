"""The requests Engage's PHP SDK (engage-so/engage-php, src/Resources/Users.php and Api.php)
builds, replayed byte for byte in-process: no /v1 in its paths, `id` inside the identify body,
`is_account` top-level, JSON bodies. There is no PHP here to run the SDK itself."""

from __future__ import annotations

import json
from typing import Any

from engage_cli.sandbox.app import SandboxAPI
from engage_cli.sandbox.web import WRONG_CREDENTIALS

from .conftest import FULL, basic

PHP_HEADERS = {"User-Agent": "Engage.so PHP Client", "Content-Type": "application/json"}


def php(api: SandboxAPI, method: str, url: str, params: Any = None, auth: str = FULL) -> Any:
    body = b"" if params is None else json.dumps(params).encode()
    status, _, answer = api.handle(method, url, {**PHP_HEADERS, "Authorization": auth}, body)
    return status, json.loads(answer)


def test_the_php_sdk_calls_succeed(api: SandboxAPI) -> None:
    # identify(['id' => '1234', 'email' => 'test@email.com', 'plan' => 'pro', ...])
    status, user = php(
        api,
        "PUT",
        "/users/1234",
        {"id": "1234", "email": "test@email.com", "is_account": False, "meta": {"plan": "pro"}},
    )
    assert status == 200 and (user["uid"], user["email"]) == ("1234", "test@email.com")
    # addAttribute('1234', ['first_name' => 'Opeyemi', 'active' => true, 'created_at' => ...])
    status, user = php(
        api,
        "PUT",
        "/users/1234",
        {"first_name": "Opeyemi", "created_at": "2021-02-08", "meta": {"active": True}},
    )
    assert status == 200 and user["meta"] == {"plan": "pro", "active": True}
    assert user["created_at"] == "2021-02-08T00:00:00.000+00:00"
    # track('1234', ['event' => 'Withdrawal', 'value' => 190.23]) and the variant with properties
    assert php(api, "POST", "/users/1234/events", {"event": "Withdrawal", "value": 190.23}) == (
        200,
        {"status": "ok"},
    )
    tracked = php(
        api,
        "POST",
        "/users/1234/events",
        {
            "event": "Add to cart",
            "timestamp": "2020-05-30T09:30:10Z",
            "properties": {"product": "T123", "currency": "USD", "amount": 12.99},
        },
    )
    assert tracked == (200, {"status": "ok"})
    # convertToAccount / addToAccount / changeAccountRole / removeFromAccount / convertToCustomer
    assert php(api, "POST", "/users/acme/convert", {"type": "account"})[1]["is_account"] is True
    joined = php(api, "POST", "/users/1234/accounts", {"accounts": [{"id": "acme", "role": "dev"}]})
    assert joined[1]["accounts"] == [{"id": "acme", "role": "dev"}]
    role = php(api, "PUT", "/users/1234/accounts/acme", {"role": "owner"})
    assert role[1]["accounts"] == [{"id": "acme", "role": "owner"}]
    assert php(api, "DELETE", "/users/1234/accounts/acme")[1]["accounts"] == []
    assert php(api, "POST", "/users/acme/convert", {"type": "customer"})[1]["is_account"] is False


def test_the_php_sdk_sees_a_wrong_key_as_401(api: SandboxAPI) -> None:
    status, answer = php(api, "PUT", "/users/1234", {"id": "1234"}, auth=basic("test", "test"))
    assert (status, answer) == (401, {"error": WRONG_CREDENTIALS})


def test_a_wrong_key_reads_word_for_word_as_the_live_api_answers_it(api: SandboxAPI) -> None:
    # engage-java's UserResourceTest.ItShouldReturnError, run against the live API, compares the
    # message with assertEquals: with its full stop since commit 7d522d9 (2022-12-09), none
    # before (engage-api-more.md section 1: the later test is what the API says now).
    status, answer = php(api, "PUT", "/users/1234", {"id": "1234"}, auth=basic("test", "test"))
    assert (status, answer["error"]) == (401, "Wrong authentication credentials.")
