"""Finding the route for a request: `/v1/...` and the same path without `/v1`, path
parameters percent-decoded after the split, 405 with `Allow` for a known path."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote

from engage_cli.sandbox.web import ApiError, Route, bad_request

__all__ = ["Router", "parse_query"]


def _path_segment(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise bad_request("The path is not valid percent-encoded UTF-8.") from exc


def _segments(path: str) -> list[str]:
    """The raw segments after `/` and an optional `v1`, without a trailing empty one."""
    segments = path.split("/")
    if segments[0] != "":
        return []
    segments = segments[1:]
    if segments[:1] == ["v1"]:
        segments = segments[1:]
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()
    return segments


class Router:
    """Finds the route for (method, path). Literal segments beat parameters, so
    `POST /users/merge` is the merge call while `GET /users/merge` still reads the user "merge".
    A path served under other methods answers 405 with `Allow`; any other path 404."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._by_path: dict[tuple[str, ...], dict[str, Route]] = {}
        for route in routes:
            methods = self._by_path.setdefault(route.path, {})
            if route.method in methods:
                raise ValueError(f"two routes for {route.method} /{'/'.join(route.path)}")
            methods[route.method] = route
        # Most literal segments first, then literals earlier in the path first.
        self._patterns = sorted(
            self._by_path, key=lambda p: [not s.startswith("{") for s in p], reverse=True
        )

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        segments = _segments(path)
        allowed: set[str] = set()
        for pattern in self._patterns:
            params = self._bind(pattern, segments)
            if params is None:
                continue
            route = self._by_path[pattern].get(method)
            if route is not None:
                return route, params
            allowed.update(self._by_path[pattern])
        if allowed:
            raise ApiError(405, "Method not allowed.", {"Allow": ", ".join(sorted(allowed))})
        raise ApiError(404, "Not found.")

    @staticmethod
    def _bind(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
        """Path parameters if the segments fit the pattern. A parameter is percent-decoded
        after the split on "/", so an encoded slash (%2F) stays inside a uid."""
        if len(pattern) != len(segments):
            return None
        params: dict[str, str] = {}
        for expected, raw in zip(pattern, segments, strict=True):
            if expected.startswith("{"):
                if not raw:
                    return None
                params[expected[1:-1]] = raw
            elif raw != expected:
                return None
        return {name: _path_segment(raw) for name, raw in params.items()}


def parse_query(text: str) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    return query
