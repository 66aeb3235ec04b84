"""`engage sandbox ...`: the local Engage-compatible server and its store."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

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
    from engage_cli.sandbox.store import SandboxStore

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.COMMANDS

DbOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--db",
        metavar="PATH",
        help="SQLite file of the sandbox (else ENGAGE_SANDBOX_DB, else the user data dir).",
    ),
]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_LATENCY_MS = 600_000.0  # ten minutes: past any client's timeout


def _db_path(db: Path | None) -> Path:
    from engage_cli.sandbox.api import default_db_path

    return db if db is not None else default_db_path()


def _existing_store(db: Path | None) -> SandboxStore | None:
    """The store to read or empty, never created by looking: None when the default one was
    never made (nothing recorded yet); a --db that is not there is a typo, named."""
    from engage_cli.context import open_sandbox_store

    path = _db_path(db)
    if not path.exists():
        if db is not None:
            raise UsageError(
                f"There is no sandbox database at {db}.",
                hint="Check the path; `engage sandbox serve --db PATH` creates one.",
            )
        return None
    return open_sandbox_store(path)


def _finite(value: float) -> float:
    # Click's ranges compare, and every comparison with nan is false: nan passes them.
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number.")
    return value


def _credential(value: str) -> str:
    if not value:
        raise typer.BadParameter("must not be empty.")
    if not value.isprintable():
        raise typer.BadParameter("must not hold control characters.")
    return value


def _key(value: str) -> str:
    if ":" in _credential(value):  # Basic auth ends the user name at the first colon
        raise typer.BadParameter("must not hold a colon.")
    return value


def _host(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter(
            "an empty host would listen on every interface; name the address to bind "
            "(0.0.0.0 if you mean every interface)."
        )
    return value


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            "--host", callback=_host, help="Address to bind; loopback unless you say otherwise."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")
    ] = 8025,
    db: DbOpt = None,
    key: Annotated[
        str, typer.Option("--key", callback=_key, help="API key the sandbox accepts.")
    ] = "sandbox-key",
    secret: Annotated[
        str,
        typer.Option(
            "--secret", callback=_credential, help="API secret the sandbox accepts (a test value)."
        ),
    ] = "sandbox-secret",
    latency: Annotated[
        float,
        typer.Option(
            "--latency",
            min=0,
            max=MAX_LATENCY_MS,
            callback=_finite,
            metavar="MS",
            help="Delay every answer by MS.",
        ),
    ] = 0,
    fail_rate: Annotated[
        float,
        typer.Option(
            "--fail-rate",
            min=0,
            max=1,
            callback=_finite,
            metavar="F",
            help="Answer this share of requests 503.",
        ),
    ] = 0,
    rate_limit: Annotated[
        Optional[int],
        typer.Option(
            "--rate-limit", min=1, metavar="N", help="Answer 429 past N requests a second."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log each request to stderr.")] = False,
) -> None:
    """Serve the Engage API on loopback until Ctrl-C or SIGTERM.

    The first line of stdout is the base URL, then the credentials it accepts, so a script
    can start it with --port 0 and read where it listens.

    Example: engage sandbox serve --port 0 --latency 50 --fail-rate 0.1
    """
    from engage_cli.context import open_sandbox_store
    from engage_cli.sandbox.server import run_sandbox_server

    state = state_of(ctx)
    open_sandbox_store(_db_path(db)).close()  # a bad --db is a store error, not a port error
    if host not in LOOPBACK_HOSTS:
        state.streams.stderr.write(f"Warning: listening on {host}, beyond loopback.\n")
    try:
        run_sandbox_server(
            db_path=_db_path(db),
            host=host,
            port=port,
            key=key,
            secret=secret,
            latency_ms=latency,
            fail_rate=fail_rate,
            rate_limit=rate_limit,
            verbose=verbose,
            out=state.streams.stdout,
            err=state.streams.stderr,
        )
    except OSError as exc:
        raise UsageError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
            hint="Choose another --port, or --port 0 for any free one.",
        ) from exc


@app.command("events")
def events(
    ctx: typer.Context,
    uid: Annotated[Optional[str], typer.Option("--uid", help="Only this user's events.")] = None,
    db: DbOpt = None,
    output: OutputOpt = None,
) -> None:
    """List the events the sandbox recorded, oldest first (the real API has no such read).

    Example: engage sandbox events --uid u144 -o ndjson
    """
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    store = _existing_store(db)
    if store is None:
        out.items([[]])
        return
    with store:
        recorded = store.list_events(uid)
    out.items([recorded])


@app.command("reset")
def reset(
    ctx: typer.Context, yes: YesOpt = False, db: DbOpt = None, dry_run: DryRunOpt = False
) -> None:
    """Empty the sandbox: every user and event. Asks first on a terminal.

    Example: engage sandbox reset --yes
    """
    state = state_of(ctx)
    path = _db_path(db)
    store = _existing_store(db)
    if store is None:
        state.streams.stderr.write(f"The sandbox is empty: nothing was ever stored ({path}).\n")
        return
    with store:
        users, events = store.count_users(), store.count_events()
        if dry_run:
            state.streams.stderr.write(
                f"Dry run: would delete {users} users and {events} events in {path}.\n"
            )
            return
        if not yes:
            confirm_or_refuse(
                state, f"Delete {users} users and {events} events in the sandbox at {path}?"
            )
        store.reset()
    state.streams.stderr.write(f"Sandbox emptied ({path}).\n")
