"""`engage sandbox events | requests | batches | reset | export | import`: the sandbox's
control API (`/__sandbox/`), on the server at the current base URL (profile, ENGAGE_BASE_URL,
--base-url), or on a sandbox database read in-process with `--db PATH` or `--sandbox`.

Every command goes through the client: with --db or --sandbox, over the in-process transport
on that store; so the server and the database can never answer differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional
from urllib.parse import urlsplit

import typer

from engage_cli.commands._common import (
    DryRunOpt,
    OutputOpt,
    YesOpt,
    confirm_or_refuse,
    fmt,
    state_of,
)
from engage_cli.errors import UsageError

if TYPE_CHECKING:
    from engage_cli.client import EngageClient
    from engage_cli.context import State
    from engage_cli.endpoints import APIRequest

DbOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--db",
        metavar="PATH",
        help="Read this sandbox database in-process instead of asking the server at the base URL.",
    ),
]
FileArg = Annotated[str, typer.Argument(metavar="FILE|-", help="A file, or - for stdin/stdout.")]
# The hosts of Engage itself: never asked for a sandbox's control API.
ENGAGE_HOSTS = ("engage.so",)


def _db_path(db: Path | None) -> Path:
    from engage_cli.sandbox.api import default_db_path

    return db if db is not None else default_db_path()


@contextmanager
def _control(state: State, db: Path | None) -> Iterator[EngageClient | None]:
    """The client that reaches the sandbox: in-process on a store with --db or --sandbox
    (None when the default store was never made: nothing recorded yet), else the server at
    the base URL, which must not be Engage itself."""
    from engage_cli.context import SANDBOX_BASE_URL, sandbox_transport

    if db is not None or state.sandbox:
        path = _db_path(db)
        if not path.exists():
            if db is not None:  # a typo, named; never a new empty database
                raise UsageError(
                    f"There is no sandbox database at {db}.",
                    hint="Check the path; `engage sandbox serve --db PATH` creates one.",
                )
            yield None
            return
        from engage_cli.sandbox.api import DEFAULT_KEY, DEFAULT_SECRET

        credentials = (SANDBOX_BASE_URL, DEFAULT_KEY, DEFAULT_SECRET)
        with state.client(credentials=credentials, transport=sandbox_transport(path)) as client:
            yield client
        return
    base = state.settings().base_url
    host = urlsplit(base).hostname or ""
    if any(host == h or host.endswith("." + h) for h in ENGAGE_HOSTS):
        raise _not_a_sandbox(base, "it is Engage itself")
    with state.client() as client:
        yield client


def _not_a_sandbox(base: str, why: str) -> UsageError:
    return UsageError(
        f"{base} is not an Engage sandbox: {why}.",
        hint="Point --base-url (or ENGAGE_BASE_URL) at the URL `engage sandbox serve` printed, "
        "or read a sandbox database with --db PATH or --sandbox.",
    )


def _send(client: EngageClient, request: APIRequest, key: str | None = "data") -> Any:
    """Send a control request; an answer no sandbox gives means the base URL is no sandbox."""
    from engage_cli.errors import APIRefusedError, NotFoundError, UnexpectedAnswer

    try:
        answer = client.send(request)
    except (NotFoundError, UnexpectedAnswer) as exc:
        raise _not_a_sandbox(client.base_url, "it has no /__sandbox/ control API") from exc
    except APIRefusedError as exc:
        if exc.status == 405:
            raise _not_a_sandbox(client.base_url, "it has no /__sandbox/ control API") from exc
        raise
    if not isinstance(answer, dict) or (key is not None and not isinstance(answer.get(key), list)):
        raise _not_a_sandbox(client.base_url, "its answer is not the control API's")
    return answer


def _list(
    ctx: typer.Context, name: str, db: Path | None, output: Any, rows: str, **query: Any
) -> None:
    from engage_cli import endpoints, tables

    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    params = {k: v for k, v in query.items() if v is not None}
    with _control(state, db) as client:
        found = (
            []
            if client is None
            else _send(client, endpoints.sandbox_control("GET", name, params=params))["data"]
        )
    out.items([found], getattr(tables, rows))


def events(
    ctx: typer.Context,
    uid: Annotated[Optional[str], typer.Option("--uid", help="Only this user's events.")] = None,
    db: DbOpt = None,
    output: OutputOpt = None,
) -> None:
    """List the events the sandbox recorded, oldest first (the real API has no such read).

    Example: engage sandbox events --uid u144 -o ndjson
    """
    _list(ctx, "events", db, output, "GENERIC", uid=uid)


def requests(ctx: typer.Context, db: DbOpt = None, output: OutputOpt = None) -> None:
    """List the requests the sandbox answered, oldest first (the last 10,000).

    Each with its method, path, query, status, the body sent and the answer; never
    credentials.

    Example: engage sandbox requests -o json --query "[?method=='POST'].path"
    """
    if db is not None or state_of(ctx).sandbox:
        raise UsageError(
            "The request log is kept by a running sandbox server, not in its database.",
            hint="Ask the server: --base-url (or ENGAGE_BASE_URL) with the URL `engage sandbox "
            "serve` printed.",
        )
    _list(ctx, "requests", db, output, "REQUESTS")


def batches(ctx: typer.Context, db: DbOpt = None, output: OutputOpt = None) -> None:
    """List each /batch request the sandbox received, with every item's outcome.

    An item was applied, or failed with the error its single call would have given.

    Example: engage sandbox batches -o json --query "[].items[?status=='failed'][]"
    """
    _list(ctx, "batches", db, output, "BATCHES")


def reset(
    ctx: typer.Context, yes: YesOpt = False, db: DbOpt = None, dry_run: DryRunOpt = False
) -> None:
    """Empty the sandbox: users, lists, events, batches and request log. Asks first.

    Asks on a terminal; elsewhere --yes says so.

    Example: engage sandbox reset --yes
    """
    from engage_cli import endpoints

    state = state_of(ctx)
    request = endpoints.sandbox_control("POST", "reset")
    with _control(state, db) as client:
        if client is None:
            state.streams.stderr.write(
                f"The sandbox is empty: nothing was ever stored ({_db_path(db)}).\n"
            )
            return
        where = "at " + (str(_db_path(db)) if db is not None or state.sandbox else client.base_url)
        if dry_run:
            state.choose_output(None).dry_run(client.describe(request))
            return
        if not yes:
            confirm_or_refuse(
                state, f"Delete every user, list, event and batch in the sandbox {where}?", "reset"
            )
        _send(client, request, key=None)
    state.streams.stderr.write(f"Sandbox emptied ({where.removeprefix('at ')}).\n")


def export(ctx: typer.Context, file: FileArg, db: DbOpt = None) -> None:
    """Write the sandbox's whole state to FILE (- for stdout) as one JSON document.

    Users with their lists and accounts, lists, and events: what `engage sandbox import`
    and `engage sandbox serve --state` read back.

    Example: engage sandbox export snapshot.json
    """
    from engage_cli import endpoints
    from engage_cli.output import dumps

    state = state_of(ctx)
    with _control(state, db) as client:
        if client is None:
            from engage_cli.sandbox.snapshot import STATE_FORMAT, STATE_VERSION

            document: dict[str, Any] = {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "users": [],
                "lists": [],
                "events": [],
            }
        else:
            document = _send(client, endpoints.sandbox_control("GET", "state"), key="users")
    text = dumps(document) + "\n"
    if file == "-":
        state.choose_output("json").write(text)
    else:
        _write_file(Path(file), text)
    state.streams.stderr.write(
        f"Exported {_counts(document)}{'' if file == '-' else ' to ' + file}.\n"
    )


def import_(ctx: typer.Context, file: FileArg, yes: YesOpt = False, db: DbOpt = None) -> None:
    """Replace everything in the sandbox with a state document. Asks first.

    The document (`engage sandbox export`'s) is checked whole first: a malformed one changes
    nothing. Asks on a terminal; elsewhere --yes says so.

    Example: engage sandbox export before.json && engage sandbox import before.json --yes
    """
    from engage_cli import endpoints
    from engage_cli.sandbox.snapshot import StateError, parse_state

    state = state_of(ctx)
    document = read_document(state, file)
    try:
        parse_state(document)  # bad input is exit 2 with nothing sent
    except StateError as exc:
        raise UsageError(f"{file}: {exc}") from exc
    if not yes:
        confirm_or_refuse(
            state, f"Replace everything in the sandbox with {_counts(document)}?", "import"
        )
    if db is not None or state.sandbox:
        from engage_cli.context import open_sandbox_store

        open_sandbox_store(_db_path(db)).close()  # importing makes the database it fills
    with _control(state, db) as client:
        assert client is not None
        request = endpoints.sandbox_control("PUT", "state", body=document)
        answer = _send(client, request, key=None)
    state.streams.stderr.write(
        f"Imported {answer.get('users', 0)} users, {answer.get('lists', 0)} lists and "
        f"{answer.get('events', 0)} events.\n"
    )


def _counts(document: dict[str, Any]) -> str:
    def count(name: str) -> int:
        value = document.get(name)
        return len(value) if isinstance(value, list) else 0

    return f"{count('users')} users, {count('lists')} lists and {count('events')} events"


def read_document(state: State, file: str) -> Any:
    from engage_cli.strict import loads_json

    try:
        if file == "-":
            text = state.streams.stdin.read()
        else:
            text = Path(file).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UsageError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{file} is not UTF-8 text ({exc.reason}).") from exc
    try:
        return loads_json(text)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{file} is not valid JSON: {exc}.") from exc


def _write_file(path: Path, text: str) -> None:
    """Whole or not at all: written beside the target, then renamed over it."""
    import os
    import tempfile

    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    except OSError as exc:
        raise UsageError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
