"""The names other modules have imported from `engage_cli.sandbox.api` since before the sandbox
was split into app.py, web.py, validate.py and routes/: kept so those imports keep working."""

from __future__ import annotations

from engage_cli.sandbox.app import DEFAULT_KEY, DEFAULT_SECRET, SandboxAPI, default_db_path
from engage_cli.sandbox.validate import parse_timestamp
from engage_cli.sandbox.web import (
    DUPLICATE_USER,
    LIMIT_RANGE,
    NEEDS_SECRET,
    USER_NOT_FOUND,
    WRONG_CREDENTIALS,
    ApiError,
    Response,
)

__all__ = [
    "DEFAULT_KEY",
    "DEFAULT_SECRET",
    "DUPLICATE_USER",
    "LIMIT_RANGE",
    "NEEDS_SECRET",
    "USER_NOT_FOUND",
    "WRONG_CREDENTIALS",
    "ApiError",
    "Response",
    "SandboxAPI",
    "default_db_path",
    "parse_timestamp",
]
