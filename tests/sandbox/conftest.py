"""Fixtures for the sandbox tests: every database lives under tmp_path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engage_cli.sandbox.api import DEFAULT_KEY, DEFAULT_SECRET, SandboxAPI
from engage_cli.sandbox.store import SandboxStore
from tests.harness import basic

FULL = basic(DEFAULT_KEY, DEFAULT_SECRET)
KEY_ONLY = basic(DEFAULT_KEY)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class Caller:
    """Calls SandboxAPI.handle the way a server would, with full credentials by default."""

    def __init__(self, api: SandboxAPI) -> None:
        self.api = api

    def __call__(
        self,
        method: str,
        target: str,
        body: Any = None,
        *,
        auth: str | None = FULL,
        raw: bytes | None = None,
    ) -> Answer:
        headers = {} if auth is None else {"Authorization": auth}
        payload = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        status, answer_headers, answer = self.api.handle(method, target, headers, payload)
        return Answer(status, answer_headers, answer)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "sandbox.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SandboxStore]:
    with SandboxStore(db_path) as opened:
        yield opened


@pytest.fixture
def api(store: SandboxStore) -> SandboxAPI:
    return SandboxAPI(store, DEFAULT_KEY, DEFAULT_SECRET)


@pytest.fixture
def call(api: SandboxAPI) -> Caller:
    return Caller(api)
