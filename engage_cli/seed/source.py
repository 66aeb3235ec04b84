"""Reading a seed file's text into plain data, and knowing where each value came from: the
YAML line of every node (from PyYAML's node marks), or for JSON the path alone
(`users[3].email`). Every error names the place; none is a traceback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

from engage_cli.errors import UsageError

STDIN = "-"
YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)
MAX_DEPTH = 32  # as bulk.records: no seed field nests deeper than 4
# Values once YAML aliases are expanded: a few aliases of aliases (a "billion laughs") would
# otherwise grow into more than memory holds. A seed listing 100,000 users stays under.
MAX_VALUES = 1_000_000

PathParts = tuple[str | int, ...]


def dotted(path: Sequence[str | int]) -> str:
    """`("users", 3, "email")` as `users[3].email`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass
class Places:
    """Where the values of one file are: `label` names the file; `lines` maps a path to the
    line its value starts on (YAML only)."""

    label: str
    lines: dict[PathParts, int] = field(default_factory=dict)

    def at(self, path: Sequence[str | int]) -> str:
        """`seed.yaml, line 12 (users[3].email)`; for JSON `seed.json, users[3].email`."""
        parts = tuple(path)
        where = dotted(parts)
        # A value the file does not hold (a missing field) is at its parent's line.
        lines = (self.lines.get(parts[:n]) for n in range(len(parts), -1, -1))
        line = next((found for found in lines if found is not None), None)
        if line is None:
            return f"{self.label}, {where}" if where else self.label
        return f"{self.label}, line {line}" + (f" ({where})" if where else "")

    def fail(self, path: Sequence[str | int], problem: str, hint: str | None = None) -> NoReturn:
        raise UsageError(f"{self.at(path)}: {problem}", hint=hint or FIX_HINT)


FIX_HINT = "Fix the seed file; nothing was sent."


def read_text(name: str, stdin: IO[str]) -> tuple[str, str, bool]:
    """(label, text, is_yaml) of the file named, or of stdin for `-` (read as YAML, which
    covers JSON). The format comes from the extension."""
    if name == STDIN:
        return "stdin", stdin.read(), True
    suffix = Path(name).suffix.lower()
    if suffix not in YAML_SUFFIXES + JSON_SUFFIXES:
        raise UsageError(
            f"{name}: a seed file is YAML (.yaml, .yml) or JSON (.json), chosen by its extension.",
            hint="Rename it, or pass - to read YAML from stdin.",
        )
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not UTF-8 text (byte {exc.start}).") from None
    except OSError as exc:
        raise UsageError(f"Cannot read the seed file {name}: {exc.strerror}.") from None
    return name, text, suffix in YAML_SUFFIXES


def parse(label: str, text: str, is_yaml: bool) -> tuple[Any, Places]:
    """The file's data and its places."""
    places = Places(label)
    if is_yaml:
        return _parse_yaml(text, places), places
    return _parse_json(text, places), places


def _parse_json(text: str, places: Places) -> Any:
    import json

    from engage_cli.strict import loads_json

    try:
        return loads_json(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{places.label}, line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}).",
            hint=FIX_HINT,
        ) from None
    except ValueError as exc:
        raise UsageError(f"{places.label}: not usable JSON: {exc}.", hint=FIX_HINT) from None


def _parse_yaml(text: str, places: Places) -> Any:
    import yaml

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _Builder(loader, places).build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "not valid YAML"
        raise UsageError(
            f"{places.label}{where}: not valid YAML ({problem}).", hint=FIX_HINT
        ) from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{places.label}: not valid YAML ({exc}).", hint=FIX_HINT) from None
    except RecursionError:
        raise UsageError(
            f"{places.label}: nested more than {MAX_DEPTH} levels deep.", hint=FIX_HINT
        ) from None
    finally:
        loader.dispose()


_LOADER: Any = None


def _loader_class() -> Any:
    """SafeLoader (the C one when built), reading dates as the strings they are written as:
    the API takes ISO 8601 text, and a datetime would not compare with what it answers."""
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class SeedLoader(base):  # type: ignore[misc, valid-type]
            pass

        SeedLoader.yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")]
            for first, resolvers in base.yaml_implicit_resolvers.items()
        }
        _LOADER = SeedLoader
    return _LOADER


class _Builder:
    """Nodes to plain data, recording each value's line; duplicate keys are errors (YAML
    loaders keep the last one silently)."""

    def __init__(self, loader: Any, places: Places) -> None:
        self.loader = loader
        self.places = places
        self.values = 0

    def build(self, node: Any, path: PathParts) -> Any:
        import yaml

        self.values += 1
        if self.values > MAX_VALUES:
            self.places.fail(path, f"more than {MAX_VALUES:,} values once its aliases expand.")
        if len(path) > MAX_DEPTH:
            self.places.fail(path, f"nested more than {MAX_DEPTH} levels deep.")
        self.places.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # `<<: *anchor` merges
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                key_path = (*path, str(key))
                self.places.lines[key_path] = key_node.start_mark.line + 1
                if not isinstance(key, str):
                    self.places.fail(key_path, f"a key must be text, not {key!r}.")
                if key in result:
                    self.places.fail(key_path, f"{key!r} is given twice.")
                result[key] = self.build(value_node, key_path)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, n)) for n, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)
