"""Answer Typer's completion protocol from the generated tree, without importing Typer.

This mirrors, step for step, what Typer (and the Click it carries) does for
`_ENGAGE_COMPLETE=complete_SHELL engage`: read the words the shell sends, parse them the
way the commands would (resiliently: an error stops parsing where it stands), find the
command, option or argument the incomplete word belongs to, list its candidates, and
format them for the shell. tests/test_tab.py checks every command path and option prefix
against Typer's own answer. What the tree cannot answer exactly (a completer that needs
Typer's context, a parameter type it does not model) raises Fallback, and Typer answers.
"""

from __future__ import annotations

from engage_cli.tab.formats import spaced, zsh_escape
from engage_cli.tab.tree import COMMANDS, PARAMS, RENDERED

TYPE_CHECKING = False  # importing typing would cost every Tab press ~2 ms
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, Optional

    Node = dict[str, Any]
    Param = dict[str, Any]
    Item = tuple[str, Optional[str]]  # a candidate and its help

SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


class Fallback(Exception):
    """The tree cannot answer this exactly: run the Typer app instead."""


class _Stop(Exception):
    """A usage error while parsing: resilient parsing keeps what it has so far."""


def complete(environ: Mapping[str, str], instruction: str) -> tuple[str | None, int]:
    """What `engage` prints (None: nothing) and its exit status for a completion request."""
    action, _, shell = instruction.partition("_")
    if action != "complete" or shell not in SHELLS:
        raise Fallback(instruction)  # `source_bash`, unknown shells: Typer's own messages
    args, incomplete = _words(environ, shell)
    items = candidates(args, incomplete)
    if shell == "bash":
        return "\n".join(value for value, _ in items), 0
    if shell == "zsh":
        if not items:
            return "_files", 0
        listed = "\n".join(_zsh(value, help) for value, help in items)
        return f"_arguments '*: :(({listed}))'", 0
    if shell == "fish":
        lines = [f"{v}\t{_rendered(spaced(h))}" if h else v for v, h in items]
        action = environ.get("_TYPER_COMPLETE_FISH_ACTION", "")
        if action == "is-args":
            return None, 0 if lines else 1  # files may complete when nothing else does
        return ("\n".join(lines) if action == "get-args" else ""), 0
    return "\n".join(f"{v}:::{_rendered(h) if h else ' '}" for v, h in items), 0


def _words(environ: Mapping[str, str], shell: str) -> tuple[list[str], str]:
    """The complete words after `engage`, and the word being completed."""
    if shell == "bash":
        words = split_arg_string(environ["COMP_WORDS"])
        cword = int(environ["COMP_CWORD"])
        return words[1:cword], (words[cword] if cword < len(words) else "")
    line = environ.get("_TYPER_COMPLETE_ARGS", "")
    words = split_arg_string(line)
    if shell in ("powershell", "pwsh"):
        incomplete = environ.get("_TYPER_COMPLETE_WORD_TO_COMPLETE", "")
        return (words[1:-1] if incomplete else words[1:]), incomplete
    args = words[1:]
    if args and not line.endswith(" "):
        return args[:-1], args[-1]
    return args, ""


def split_arg_string(string: str) -> list[str]:
    """Click's split: shlex, keeping an unfinished quote's partial word."""
    import shlex

    lex = shlex.shlex(string, posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    out = []
    try:
        for token in lex:
            out.append(token)
    except ValueError:
        out.append(lex.token)
    return out


def candidates(args: list[str], incomplete: str) -> list[Item]:
    """Click's get_completions: resolve the command, then what the incomplete word is."""
    node, given = _resolve(args)
    args = list(args)
    if incomplete == "=":
        incomplete = ""
    elif "=" in incomplete and incomplete[:1] == "-":
        name, _, incomplete = incomplete.partition("=")
        args.append(name)
    if "--" not in args and incomplete[:1] == "-":
        return _names(node, given, incomplete)
    params: list[Param] = node["params"]
    for param in params:
        if _wants_value(args, param):
            return _values(param, incomplete)
    for param in params:
        if param["kind"] == "argument" and (_nargs(param) == -1 or param["name"] not in given):
            return _values(param, incomplete)
    return _names(node, given, incomplete)


def _resolve(args: list[str]) -> tuple[Node, set[str]]:
    """The command the complete words reach, and which of its parameters they gave."""
    path = ""
    node = _node(path)
    given, rest = _parse(node, args)
    while rest and rest[0] in node.get("commands", ()):
        path = f"{path} {rest[0]}".lstrip()
        node = _node(path)
        given, rest = _parse(node, rest[1:])
    return node, given


def _node(path: str) -> Node:
    """A command of the tree, its parameters in place of their indexes."""
    node = dict(COMMANDS[path])
    node["params"] = [PARAMS[index] for index in node["params"]]
    node["path"] = path
    return node


def _parse(node: Node, args: list[str]) -> tuple[set[str], list[str]]:
    """Click's option parser, resiliently: the names of the parameters given a value, and
    the words left over (a group's subcommand and what follows it)."""
    if node.get("fallback"):
        raise Fallback(node["fallback"])
    parser = _Parser(node, args)
    try:
        parser.options()
        parser.arguments()
    except _Stop:
        pass
    given = {name for name, value in parser.opts.items() if value is not None}
    return given, parser.largs


class _Parser:
    """One pass of Click's _OptionParser over a command's words."""

    def __init__(self, node: Node, args: list[str]) -> None:
        self.node = node
        self.rargs = list(args)
        self.largs: list[str] = []
        self.opts: dict[str, Any] = {}
        self.long: dict[str, tuple[Param, Any]] = {}
        self.short: dict[str, tuple[Param, Any]] = {}
        for param in node["params"]:
            if param["kind"] != "option":
                continue
            for opt in param["opts"]:
                self._add(opt, param, True)  # what a flag stores
            for opt in param.get("secondary", ()):
                self._add(opt, param, False)  # a --x/--no-x flag's second half

    def _add(self, opt: str, param: Param, const: Any) -> None:
        table = self.short if len(opt) == 2 and opt[1] != "-" else self.long
        table[opt] = (param, const)

    def options(self) -> None:
        while self.rargs:
            arg = self.rargs.pop(0)
            if arg == "--":
                return
            if arg[:1] == "-" and len(arg) > 1:
                self._option(arg)
            elif self.node["interspersed"]:
                self.largs.append(arg)
            else:
                self.rargs.insert(0, arg)
                return

    def arguments(self) -> None:
        nargs = [_nargs(p) for p in self.node["params"] if p["kind"] == "argument"]
        values, self.largs = _unpack_args(self.largs + self.rargs, nargs)
        self.rargs = []
        arguments = [p for p in self.node["params"] if p["kind"] == "argument"]
        for param, value in zip(arguments, values, strict=True):
            self.opts[param["name"]] = None if _nargs(param) == -1 and value == () else value

    def _option(self, arg: str) -> None:
        name, eq, explicit = arg.partition("=")
        found = self.long.get(name)
        if found is None:
            if arg[:2] != "--":
                self._short_options(arg)
                return
            if not self.node["ignore_unknown"]:
                raise _Stop
            self.largs.append(arg)
            return
        param, const = found
        if _takes_value(param):
            if eq:
                self.rargs.insert(0, explicit)
            self._store(param, const, self._value(param))
        elif eq:
            raise _Stop  # a flag given a value
        else:
            self._store(param, const, None)

    def _short_options(self, arg: str) -> None:
        unknown = []
        for index, char in enumerate(arg[1:], 2):
            found = self.short.get(f"-{char}")
            if found is None:
                if self.node["ignore_unknown"]:
                    unknown.append(char)
                    continue
                raise _Stop
            param, const = found
            if _takes_value(param):
                if index < len(arg):
                    self.rargs.insert(0, arg[index:])
                self._store(param, const, self._value(param))
                if index < len(arg):
                    break
            else:
                self._store(param, const, None)
        if self.node["ignore_unknown"] and unknown:
            self.largs.append(f"-{''.join(unknown)}")

    def _value(self, param: Param) -> Any:
        nargs = _nargs(param)
        if len(self.rargs) < nargs:
            raise _Stop
        value = self.rargs[0] if nargs == 1 else tuple(self.rargs[:nargs])
        del self.rargs[:nargs]
        return value

    def _store(self, param: Param, const: Any, value: Any) -> None:
        action, name = param.get("action", "store"), param["name"]
        if action == "store":
            self.opts[name] = value
        elif action == "store_const":
            self.opts[name] = const
        elif action == "append":
            self.opts.setdefault(name, []).append(value)
        elif action == "append_const":
            self.opts.setdefault(name, []).append(const)
        else:  # count
            self.opts[name] = self.opts.get(name, 0) + 1


def _nargs(param: Param) -> int:
    nargs: int = param.get("nargs", 1)
    return nargs


def _takes_value(param: Param) -> bool:
    return param.get("action", "store") in ("store", "append")


def _unpack_args(args: list[str], nargs_spec: list[int]) -> tuple[list[Any], list[str]]:
    """Click's _unpack_args, for arguments of one value each and at most one taking any
    number (the generator refuses other shapes): those after that one fill from the end."""
    rest = list(args)
    star = nargs_spec.index(-1) if -1 in nargs_spec else len(nargs_spec)
    head = [rest.pop(0) if rest else None for _ in nargs_spec[:star]]
    if star == len(nargs_spec):
        return head, rest
    tail = [rest.pop() if rest else None for _ in nargs_spec[star + 1 :]]
    return [*head, tuple(rest), *reversed(tail)], []


def _wants_value(args: list[str], param: Param) -> bool:
    """Click's _is_incomplete_option: the last option word names this option, which takes
    a value not given yet."""
    if param["kind"] != "option" or param.get("flag") or param.get("action") == "count":
        return False
    nargs = _nargs(param)
    for index, arg in enumerate(reversed(args)):
        if index + 1 > nargs:
            break
        if arg[:1] == "-":
            return arg in param["opts"]
    return False


def _names(node: Node, given: set[str], incomplete: str) -> list[Item]:
    """A command's visible subcommands, and its options when the word starts like one."""
    items: list[Item] = []
    for name in node.get("commands", ()):
        sub = COMMANDS[f"{node['path']} {name}".lstrip()]
        if name.startswith(incomplete) and not sub.get("hidden"):
            items.append((name, sub["help"]))
    if incomplete and not incomplete[0].isalnum():
        for param in node["params"]:
            if param["kind"] != "option" or param.get("hidden"):
                continue
            if not param.get("multiple") and param["name"] in given:
                continue
            items += [
                (opt, param.get("help"))
                for opt in (*param["opts"], *param.get("secondary", ()))
                if opt.startswith(incomplete)
            ]
    return items


def _values(param: Param, incomplete: str) -> list[Item]:
    """What a parameter's value may be: its fixed choices or its completer's answer."""
    complete = param.get("complete")
    if complete is None:
        return []
    if complete[0] == "choices":
        _, choices, case_sensitive = complete
        if case_sensitive:
            return [(c, None) for c in choices if c.startswith(incomplete)]
        lowered = incomplete.lower()
        return [(c, None) for c in choices if c.lower().startswith(lowered)]
    if complete[0] == "completer":
        return _completer_items(_import(complete[1])(incomplete), incomplete)
    raise Fallback(f"parameter {param['name']!r}: {complete[1]}")


def _completer_items(answer: list[Any], incomplete: str) -> list[Item]:
    items: list[Item] = []
    for candidate in answer:
        if isinstance(candidate, tuple):
            raise Fallback("a completer's help text is rendered by Typer")
        if candidate.startswith(incomplete):
            items.append((candidate, None))
    return items


def _import(target: str) -> Callable[[str], list[Any]]:
    import importlib

    module, _, name = target.partition(":")
    function: Callable[[str], list[Any]] = getattr(importlib.import_module(module), name)
    return function


def _zsh(value: str, help: str | None) -> str:
    if help:
        return f'"{zsh_escape(value)}":"{_rendered(zsh_escape(help))}"'
    return f'"{zsh_escape(value)}"'


def _rendered(text: str) -> str:
    """Help as Typer shows it (through Rich's markup, precomputed where that changes it)."""
    return RENDERED.get(text, text)
