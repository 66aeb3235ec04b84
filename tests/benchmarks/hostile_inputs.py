"""Hostile-input corpus: how many bad inputs the CLI handles cleanly (issue 10's "185/256").

Not collected by pytest (the file name does not start with `test_`); run it from the
repository root:

    python tests/benchmarks/hostile_inputs.py [--verbose]

Each case runs `engage ...` in-process against a scripted API that accepts everything, in a
throw-away config directory. A case is handled cleanly when its exit code is one the case
allows (2 for what must be refused before the network; 0 or 2 where either reading is
fair; 130 for an interrupted prompt; 3 for a profile typo), a refusal sent nothing, and
nothing ended as "Unexpected failure" (exit 1). tests/test_hostile_corpus.py asserts the
same for every case, so the figure printed here is the one the suite holds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

ACCEPT_OR_REFUSE = frozenset({0, 2})
REFUSE = frozenset({2})


@dataclass(frozen=True)
class Case:
    category: str
    args: tuple[str, ...]
    expected: frozenset[int] = ACCEPT_OR_REFUSE
    stdin: str | bytes = ""  # bytes reach the command as a terminal or pipe sends them
    tty: bool = False
    credentials: bool = True
    files: tuple[tuple[str, bytes], ...] = ()  # written into the case's directory first
    setup: tuple[tuple[str, ...], ...] = ()  # commands run first (e.g. a login)
    env: tuple[tuple[str, str], ...] = field(default=())

    @property
    def label(self) -> str:
        shown = " ".join(self.args)
        shown = shown.encode("utf-8", "backslashreplace").decode("utf-8")
        return (shown[:90] + "...") if len(shown) > 90 else shown


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def not_utf8(raw: bytes) -> str:
    """What Python's argv holds for bytes that are not UTF-8 (PEP 383)."""
    return raw.decode("utf-8", "surrogateescape")


BAD_BYTES = [b"\xff", b"caf\xe9", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"a\x80b"]
LONE_SURROGATES = ["\ud800", "\udfff", "x\udbffy"]


def corpus() -> Iterator[Case]:
    # Deep nesting in every JSON-reading option (RecursionError was exit 1).
    for depth in (99, 100, 101, 150, 1000, 3000, 20000, 100000):
        deep = nested(depth)
        yield Case("json nesting", ("users", "create", "--id", "u1", "--data", deep))
        yield Case(
            "json nesting", ("users", "create", "--id", "u1", "--data", '{"meta":' + deep + "}")
        )
        yield Case("json nesting", ("users", "update", "u1", "--meta", f"k:={deep}"))
        yield Case("json nesting", ("events", "add", "u1", "E", "--property", f"k:={deep}"))
        yield Case("json nesting", ("events", "add", "u1", "E", "--value", deep))
        yield Case("json nesting", ("api", "POST", "/users", "--data", deep))
        yield Case("json nesting", ("api", "POST", "/users", "--field", f"k:={deep}"))
        yield Case("json nesting", ("users", "update", "u1", "--data", "-"), stdin=deep)
        yield Case(
            "json nesting",
            ("api", "POST", "/users", "--data", "@deep.json"),
            files=(("deep.json", deep.encode()),),
        )
    # Text that is not UTF-8, in argv, files and stdin.
    for raw in BAD_BYTES:
        bad = not_utf8(raw)
        for args in (
            ("users", "create", "--id", "u1", "--first-name", bad),
            ("users", "create", "--id", bad),
            ("users", "get", bad),
            ("users", "update", "u1", "--meta", f"k={bad}"),
            ("users", "update", "u1", "--meta", f"{bad}=v"),
            ("events", "add", "u1", bad),
            ("events", "add", "u1", "E", "--value", bad),
            ("--profile", bad, "users", "get", "u1"),
            ("api", "GET", "/users/" + bad),
            ("users", "create", "--id", "u1", "--email", f"a{bad}@example.com"),
        ):
            yield Case("not UTF-8", args, REFUSE)
        yield Case(
            "not UTF-8",
            ("users", "create", "--data", "@bad.json"),
            REFUSE,
            files=(("bad.json", b'{"id": "u1", "first_name": "' + raw + b'"}'),),
        )
        yield Case(
            "not UTF-8",
            ("users", "create", "--data", "-"),
            REFUSE,
            stdin=b'{"id": "u1", "first_name": "' + raw + b'"}',
        )
    for char in LONE_SURROGATES:
        escaped = f"\\u{ord(char[0] if len(char) == 1 else char[1]):04x}"
        yield Case(
            "lone surrogates", ("users", "create", "--id", "u1", "--last-name", char), REFUSE
        )
        yield Case(
            "lone surrogates",
            ("users", "create", "--data", '{"id": "u1", "first_name": "' + escaped + '"}'),
            REFUSE,
        )
        yield Case(
            "lone surrogates", ("users", "update", "u1", "--meta", f'k:="{escaped}"'), REFUSE
        )
        yield Case("lone surrogates", ("api", "POST", "/users", "--data", f'["{escaped}"]'), REFUSE)
    # Paths and queries past what a URL can carry (httpx's InvalidURL was exit 1).
    for length in (7000, 8001, 65_536, 70_000, 200_000):
        long = "u" * length
        expected = ACCEPT_OR_REFUSE if length < 8000 else REFUSE
        for args in (
            ("users", "get", long),
            ("users", "update", long, "--first-name", "A"),
            ("users", "delete", long, "--yes"),
            ("events", "add", long, "E"),
            ("api", "GET", "/" + long),
            ("api", "GET", "/users", "--query", f"q={long}"),
            ("users", "list", "--after-id", long),
        ):
            yield Case("long paths", args, expected)
    # Values that only looked valid: sent, then refused by the API (exit 5).
    for args in (
        ("users", "create", "--id", "u1\n"),
        ("users", "create", "--id", "u1\r"),
        ("users", "create", "--id", "u 1"),
        ("users", "create", "--id", ""),
        ("users", "create", "--id", "ü1"),
        ("users", "create", "--id", "u1", "--email", "a@b\n"),
        ("users", "create", "--id", "u1", "--email", "a@b c"),
        ("users", "create", "--id", "u1", "--email", "@b"),
        ("users", "create", "--id", "u1", "--email", "a@"),
        ("users", "create", "--id", "u1", "--email", "a@@b"),
        ("users", "update", "u1", "--email", "a@b\n"),
        ("users", "create", "--id", "u1", "--number", "123\n"),
        ("users", "create", "--id", "u1", "--number", "+234+8012345678"),
        ("users", "create", "--id", "u1", "--number", "234 801"),
        ("users", "create", "--id", "u1", "--number", "١٢٣"),
        ("users", "create", "--id", "u1", "--number", "²"),
        ("users", "update", "u1", "--number", "123\n"),
        ("users", "update", "u1", "--number", ""),
        ("events", "add", "u1", "   "),
        ("events", "add", "u1", "\t\n"),
        ("events", "add", "u1", ""),
        ("events", "add", "u1", "--data", '{"event": "  "}'),
        ("users", "create", "--id", "u1", "--list", ""),
        ("users", "create", "--id", "u1", "--list", "   "),
        ("users", "create", "--data", '{"id": "u1", "lists": [""]}'),
        ("users", "create", "--id", "u1", "--created-at", "2021-01-01\n"),
        ("users", "create", "--id", "u1", "--created-at", "२०२१-०१-०१"),
        ("events", "add", "u1", "E", "--timestamp", "२०२१-01-01T10:00Z"),
        ("users", "create", "--id", "u1", "--created-at", "2021-02-30"),
        ("users", "create", "--id", "u1", "--created-at", "2021-01-01T24:00"),
        ("users", "create", "--id", "u1", "--created-at", "2021-01-01T00:00+24:00"),
        ("users", "create", "--id", "u1", "--created-at", "0001-01-01T00:00+01:00"),
    ):
        yield Case("validation holes", args, REFUSE)
    # Numbers no JSON can carry back out, and odd but valid ones.
    for text in (
        "1e999",
        "-1e999",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e308",
        "1" * 5000,
        "0x10",
        "01",
        "-0",
        "1.",
        ".5",
        "1e-999",
        "1_000",
        "١٢٣",
        "9" * 400,
    ):
        yield Case("numbers", ("users", "update", "u1", "--meta", f"n:={text}"))
        yield Case("numbers", ("events", "add", "u1", "E", "--value", text))
        yield Case(
            "numbers", ("users", "create", "--data", '{"id": "u1", "meta": {"n": ' + text + "}}")
        )
    # K=V and K:=JSON odd shapes.
    for pair in (
        "=",
        ":=",
        "=v",
        ":=1",
        "k",
        "k:",
        "k:=",
        "k:=[1]",
        "k:={}",
        "k:=null",
        "k=v=w",
        'k:="s"',
        "\n=v",
        "k:= 1 ",
        "k:=tru",
        'k:="\\x"',
        " =v",
        'k:="\u0000"',
    ):
        yield Case("K=V pairs", ("users", "update", "u1", "--meta", pair))
        yield Case("K=V pairs", ("events", "add", "u1", "E", "-p", pair))
        yield Case("K=V pairs", ("api", "POST", "/users", "-f", pair))
    # --data that is not an object, or not JSON.
    for data in (
        "",
        " ",
        "[]",
        "null",
        "1",
        '"s"',
        "{",
        '{"a":1,}',
        "{'a':1}",
        '{"id":"u1"}x',
        "\ufeff{}",
        '{"id": "u1", "id": "u2"}',
        '{"__proto__": {}}',
        "@",
        "@/nonexistent",
    ):
        yield Case("--data shapes", ("users", "create", "--data", data))
    # Prompts: an answer of no, Ctrl-D (EOF), and the login prompt.
    yield Case("prompts", ("users", "delete", "u1"), REFUSE, stdin="n\n", tty=True)
    yield Case("prompts", ("users", "delete", "u1"), REFUSE, stdin="\n", tty=True)
    yield Case("prompts", ("users", "delete", "u1"), frozenset({130}), tty=True)
    yield Case("prompts", ("users", "delete", "u1"), REFUSE)  # no terminal: refused
    yield Case("prompts", ("auth", "login"), frozenset({130}), tty=True, credentials=False)
    yield Case("prompts", ("auth", "login"), REFUSE, credentials=False)
    # Profiles named by mistake: the same error (3) from every command.
    login = (
        "auth",
        "login",
        "--profile",
        "real",
        "--api-key",
        "k-0123456789ab",
        "--key-only",
        "--no-verify",
    )
    for args in (
        ("auth", "logout", "--profile", "typo"),
        ("--profile", "typo", "auth", "logout"),
        ("--profile", "typo", "auth", "status"),
        ("--profile", "typo", "users", "get", "u1"),
        ("profiles", "use", "typo"),
        ("profiles", "show", "typo"),
    ):
        yield Case("profile typos", args, frozenset({3}), credentials=False, setup=(login,))
    # Config values that the old hand-written TOML broke.
    for key in ("k\x7f-0123456789", "k\x00-0123456789", 'k"\\-0123456789', "k\u2028-012345678"):
        yield Case(
            "config values",
            ("--profile", "odd", "auth", "status"),
            frozenset({0}),
            credentials=False,
            setup=(
                (
                    "auth",
                    "login",
                    "--profile",
                    "odd",
                    "--api-key",
                    key,
                    "--key-only",
                    "--no-verify",
                ),
            ),
        )


@dataclass
class Outcome:
    case: Case
    clean: bool
    detail: str


def run_case(case: Case, workdir: Path) -> Outcome:
    import httpx

    from tests.harness import reply, run

    sent: list[httpx.Request] = []

    def accept(request: httpx.Request) -> httpx.Response:
        request.read()
        sent.append(request)
        return reply(200, {"uid": "u1", "status": "ok", "data": []})

    for name, content in case.files:
        (workdir / name).write_bytes(content)
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        for setup in case.setup:
            prepared = run(list(setup), credentials=False)
            if prepared.exit_code != 0:
                return Outcome(case, False, f"setup failed: {prepared.stderr.strip()[-160:]}")
        result = run(
            list(case.args),
            accept,
            stdin=case.stdin,  # type: ignore[arg-type]  # CliRunner takes bytes too
            tty=case.tty,
            credentials=case.credentials,
            env=dict(case.env),
        )
    except BaseException as exc:  # the harness re-raises what the CLI did not handle
        return Outcome(case, False, f"raised {type(exc).__name__}: {exc}"[:200])
    finally:
        os.chdir(cwd)
    problems = []
    if result.exit_code not in case.expected:
        problems.append(f"exit {result.exit_code}, expected {sorted(case.expected)}")
    if result.exit_code == 2 and sent:
        problems.append("refused, yet sent a request")
    if "Unexpected failure" in result.stderr or "Traceback" in result.stderr:
        problems.append("unexpected failure")
    detail = "; ".join(problems)
    if problems:
        detail += (
            " :: " + result.stderr.strip().splitlines()[-1][:160] if result.stderr.strip() else ""
        )
    return Outcome(case, not problems, detail)


def isolated(workdir: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ENGAGE_") or name == "NO_COLOR":
            del os.environ[name]
    os.environ["HOME"] = str(workdir)
    os.environ["ENGAGE_CONFIG_DIR"] = str(workdir / "config")
    os.environ["ENGAGE_SANDBOX_DB"] = str(workdir / "sandbox.sqlite3")


def run_corpus(verbose: bool = False) -> list[Outcome]:
    outcomes = []
    for index, case in enumerate(corpus()):
        with tempfile.TemporaryDirectory(prefix="engage-hostile-") as tmp:
            workdir = Path(tmp)
            isolated(workdir)
            outcome = run_case(case, workdir)
        outcomes.append(outcome)
        if verbose and not outcome.clean:
            print(f"#{index} [{case.category}] {case.label}\n    {outcome.detail}")
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list every case not handled")
    options = parser.parse_args()
    outcomes = run_corpus(options.verbose)
    tried, clean = Counter[str](), Counter[str]()
    for outcome in outcomes:
        tried[outcome.case.category] += 1
        clean[outcome.case.category] += outcome.clean
    for category in tried:
        print(f"{category:18} {clean[category]:4} / {tried[category]:4}")
    print(f"{'handled cleanly':18} {sum(clean.values()):4} / {sum(tried.values()):4}")


if __name__ == "__main__":
    main()
