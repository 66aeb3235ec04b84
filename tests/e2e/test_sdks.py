"""Engage's official SDKs, unmodified but for their base URL, against `engage sandbox serve`.

The calls and the answers expected of them follow each SDK's own test suite (engage-js-core
`tests/index.test.ts`, written against the live API; engagesdk-python's `test/test_user.py`),
adapted to the published package's signatures. The JS SDK comes from npm, pinned, installed
once per machine into a cache under the temp directory; the Python SDK is a test dependency.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engage_cli.sandbox.web import WRONG_CREDENTIALS

from .conftest import Sandbox

JS_SDK = "@engage_so/core"
JS_SDK_VERSION = "1.6.0"

# The ids engage-js-core's tests use: an e-mail address and UUIDs, not letters and digits.
ID = "uzl38704@omeie.com"
SID = "a6236e83-f7c1-4003-8e1a-951f6e1d5c60"
GID = "7d1a5e27-5a6b-4b38-a8bd-e59b8a1b2f41"


def matches(actual: Any, expected: Any) -> bool:
    """Jest's toMatchObject: every expected key is there with a matching value; arrays match
    item by item and must have the same length."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


# -- the JS SDK --------------------------------------------------------------------------------

JS_DRIVER = Path(__file__).with_name("engage_js_driver.js")

JS_EXPECTED: list[tuple[str, Any]] = [
    ("init key only", None),
    ("key-only identify with email", {"uid": "new@x.io", "email": "new@x.io"}),
    ("key-only track", {"status": "ok"}),
    ("key-only addToAccount", {"accounts": [{"id": GID, "role": "Admin"}]}),
    (
        "key-only change email",
        {"error": "This operation requires full (key and secret) authentication."},
    ),
    ("init wrong credentials", None),
    ("identify with wrong credentials", {"error": WRONG_CREDENTIALS}),
    ("init", None),
    ("addAttribute", {"uid": SID, "first_name": "Opeyemi", "meta": {"active": True}}),
    ("addAttribute is_account true", {"uid": ID, "is_account": True}),
    ("addAttribute is_account false", {"is_account": False}),
    ("track string", {"status": "ok"}),
    ("track value", {"status": "ok"}),
    ("track properties", {"status": "ok"}),
    ("merge", {"status": "queued"}),
    ("convertToAccount", {"uid": GID, "is_account": True}),
    ("convertToCustomer", {"is_account": False}),
    ("addToAccount", {"accounts": [{"id": GID}]}),
    ("changeAccountRole", {"accounts": [{"id": GID, "role": "owner"}]}),
    ("removeFromAccount", {"accounts": []}),
    ("identify id only", {"uid": GID}),
    ("identify with email", {"uid": ID, "email": "fickledreams@yahoo.com"}),
    ("identify is_account true", {"is_account": True}),
    ("identify is_account false", {"is_account": False}),
    (
        "identify device",
        {"devices": [{"token": "tok-1", "platform": "ios"}], "meta": {"plan": "pro"}},
    ),
]


@pytest.fixture(scope="session")
def js_sdk() -> Path:
    """A directory holding node_modules/@engage_so/core at the pinned version."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run Engage's JS SDK (@engage_so/core)")
    cache = Path(tempfile.gettempdir()) / "engage-cli-sdk-cache" / f"js-core-{JS_SDK_VERSION}"
    installed = cache / "node_modules" / "@engage_so" / "core" / "package.json"
    if not installed.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=cache.parent, prefix="installing-"))
        # npm's own cache and config stay inside the staging dir, never in the real home.
        env = {**os.environ, "HOME": str(staging), "npm_config_cache": str(staging / ".npm")}
        (staging / "package.json").write_text('{"private": true}\n', encoding="utf-8")
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", f"{JS_SDK}@{JS_SDK_VERSION}"],
            cwd=staging,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"npm install {JS_SDK}@{JS_SDK_VERSION} failed:\n{done.stderr}")
        shutil.rmtree(staging / ".npm", ignore_errors=True)
        try:
            staging.rename(cache)  # atomic: a half-done install is never taken for the cache
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another run got there first
    version = json.loads(installed.read_text(encoding="utf-8"))["version"]
    assert version == JS_SDK_VERSION
    return cache


def run_js(sdk: Path, sandbox: Sandbox) -> list[tuple[str, Any]]:
    env = {
        **os.environ,
        "NODE_PATH": str(sdk / "node_modules"),
        "SANDBOX_URL": sandbox.url,
        "KEY": sandbox.key,
        "SECRET": sandbox.secret,
        "IDS": json.dumps([ID, SID, GID]),
    }
    done = subprocess.run(
        ["node", str(JS_DRIVER)], cwd=sdk, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return [tuple(json.loads(line)) for line in done.stdout.splitlines()]  # type: ignore[misc]


def test_the_js_sdk_works_unmodified(js_sdk: Path, sandbox: Sandbox) -> None:
    answers = run_js(js_sdk, sandbox)
    assert [name for name, _ in answers] == [name for name, _ in JS_EXPECTED]
    failed = [
        (name, answer)
        for (name, answer), (_, expected) in zip(answers, JS_EXPECTED, strict=True)
        if not (answer is None if expected is None else matches(answer, expected))
    ]
    assert failed == []
    # What the calls left behind: the merge moved SID's events and meta into ID.
    listed = sandbox.engage("sandbox", "events", "--uid", ID, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [e["event"] for e in json.loads(listed.stdout)] == ["loggedin", "played", "loggedin"]


# -- the Python SDK ----------------------------------------------------------------------------


@pytest.fixture
def python_sdk(sandbox: Sandbox) -> Iterator[Any]:
    """engagesdk's client aimed at the sandbox; its settings live in process-wide state
    (a Borg and a module constant), reset before and after."""
    engagesdk = pytest.importorskip("engagesdk")
    from engagesdk.base import Borg

    Borg._shared_state.clear()
    root = engagesdk.API_URL
    engagesdk.API_URL = sandbox.url
    try:
        yield engagesdk.Engage(api_key=sandbox.key, secret_key=sandbox.secret)
    finally:
        engagesdk.API_URL = root
        Borg._shared_state.clear()


def test_the_python_sdk_works_unmodified(python_sdk: Any, sandbox: Sandbox) -> None:
    users = python_sdk.users
    steps: list[tuple[str, Any, Any]] = [
        (
            "identify",
            lambda: users.identify(
                {
                    "id": "u34",
                    "first_name": "franc",
                    "last_name": "emeka",
                    "email": "francemeka@gmail.com",
                    "age": 30,
                    "is_account": False,
                }
            ),
            {
                "uid": "u34",
                "first_name": "franc",
                "email": "francemeka@gmail.com",
                "meta": {"age": 30},
            },
        ),
        (
            "add_attribute",
            lambda: users.add_attribute(
                "u34", {"first_name": "franc", "meta": {"age": 40}, "plan": "growth"}
            ),
            {"meta": {"age": 40, "plan": "growth"}},
        ),
        ("track string", lambda: users.track("u34", "paid"), {"status": "ok"}),
        (
            "track dict",
            lambda: users.track(
                "u34",
                {
                    "event": "paid",
                    "currency": "USD",
                    "properties": {"plan": "growth"},
                    "timestamp": "2020-05-30T09:30:10Z",
                },
            ),
            {"status": "ok"},
        ),
        ("convert_to_account", lambda: users.convert_to_account("u10"), {"is_account": True}),
        (
            "add_to_account",
            lambda: users.add_to_account(user_id="u34", account_id="u10", role="developer"),
            {"accounts": [{"id": "u10", "role": "developer"}]},
        ),
        (
            "change_account_role",
            lambda: users.change_account_role(user_id="u34", account_id="u10", role="owner"),
            {"accounts": [{"id": "u10", "role": "owner"}]},
        ),
        (
            "remove_from_account",
            lambda: users.remove_from_account(user_id="u34", account_id="u10"),
            {"accounts": []},
        ),
        ("convert_to_customer", lambda: users.convert_to_customer("u10"), {"is_account": False}),
    ]
    failed = [
        (name, answer) for name, call, expected in steps if not matches(answer := call(), expected)
    ]
    assert failed == []
    events = json.loads(sandbox.engage("sandbox", "events", "--uid", "u34", "-o", "json").stdout)
    assert [(e["event"], e["properties"]) for e in events] == [
        ("paid", {}),
        ("paid", {"plan": "growth", "currency": "USD"}),
    ]
