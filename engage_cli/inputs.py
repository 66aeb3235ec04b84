"""Parsing what users type: `K=V` / `K:=JSON` pairs, `--value`, and `--data` bodies.

Pure functions with no third-party imports, so they are cheap to import and easy to test.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from engage_cli.errors import UsageError
from engage_cli.strict import NumberOutOfRange, loads_json


def parse_pair(text: str, option: str) -> tuple[str, Any]:
    """`K=V` gives a string, `K:=JSON` a JSON literal, as in httpie.

    The first `=` splits; if a `:` stands right before it, the value is JSON."""
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(
            f"{option} {text!r}: expected KEY=VALUE or KEY:=JSON.",
            hint=f"For example {option} plan=pro or {option} age:=34.",
        )
    is_json = key.endswith(":")
    if is_json:
        key = key[:-1]
    if not key:
        raise UsageError(f"{option} {text!r}: the key is empty.")
    if not is_json:
        return key, value
    try:
        return key, loads_json(value)
    except ValueError as exc:
        raise UsageError(
            f"{option} {key}: {value!r} is not a JSON literal ({exc}).",
            hint=f"Use {option} {key}=TEXT for a string.",
        ) from exc


def parse_pairs(items: list[str] | None, option: str) -> dict[str, Any] | None:
    if not items:
        return None
    pairs: dict[str, Any] = {}
    for item in items:
        key, value = parse_pair(item, option)
        pairs[key] = value
    return pairs


def parse_scalar(text: str) -> Any:
    """An event's --value: a JSON scalar when the text is one, else the text itself.

    JSON quotes force a string (`'"49.99"'`)."""
    try:
        value = loads_json(text)
    except NumberOutOfRange as exc:
        raise UsageError(f"--value {text}: {exc}.", hint="Quote it to send the text.") from exc
    except ValueError:
        return text
    if value is None:
        raise UsageError(
            "--value null: an event value cannot be null.",
            hint="Leave --value out, or quote it to send the text: --value '\"null\"'.",
        )
    if isinstance(value, (dict, list)):
        return text
    return value


def load_data(spec: str, stdin: IO[str] | None = None) -> dict[str, Any]:
    """`--data`: inline JSON, `@FILE`, or `-` for stdin; the body must be a JSON object."""
    if spec == "-":
        source, text = "stdin", (stdin or sys.stdin).read()
    elif spec.startswith("@"):
        source = spec[1:]
        try:
            with open(source, encoding="utf-8-sig") as fh:
                text = fh.read()
        except OSError as exc:
            raise UsageError(f"--data {spec}: cannot read the file ({exc.strerror}).") from exc
    else:
        source, text = "--data", spec
    try:
        data = loads_json(text)
    except ValueError as exc:
        raise UsageError(f"--data ({source}) is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise UsageError(f"--data ({source}) must be a JSON object, not {type(data).__name__}.")
    return data


def merge_body(data: dict[str, Any] | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Flags beside --data override its fields; `meta`/`properties` merge key by key."""
    body = dict(data or {})
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body
