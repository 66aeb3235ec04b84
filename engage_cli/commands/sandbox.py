"""`engage sandbox ...`: the local Engage-compatible server and its store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

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

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.GROUPS

DbOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--db",
        metavar="PATH",
        help="SQLite file of the sandbox (else ENGAGE_SANDBOX_DB, else the user data dir).",
    ),
]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _db_path(db: Path | None) -> Path:
    from engage_cli.sandbox.api import default_db_path

    return db if db is not None else default_db_path()


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; loopback unless you say otherwise.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")
    ] = 8025,
    db: DbOpt = None,
    key: Annotated[str, typer.Option("--key", help="API key the sandbox accepts.")] = "sandbox-key",
    secret: Annotated[
        str, typer.Option("--secret", help="API secret the sandbox accepts (a test value).")
    ] = "sandbox-secret",
    latency: Annotated[
        float, typer.Option("--latency", min=0, metavar="MS", help="Delay every answer by MS.")
    ] = 0,
    fail_rate: Annotated[
        float,
        typer.Option(
            "--fail-rate", min=0, max=1, metavar="F", help="Answer this share of requests 503."
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
    from engage_cli.context import open_sandbox_store

    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    with open_sandbox_store(_db_path(db)) as store:
        recorded = store.list_events(uid)
    out.items([recorded])


@app.command("reset")
def reset(
    ctx: typer.Context, yes: YesOpt = False, db: DbOpt = None, dry_run: DryRunOpt = False
) -> None:
    """Empty the sandbox: every user and event. Asks first on a terminal.

    Example: engage sandbox reset --yes
    """
    from engage_cli.context import open_sandbox_store

    state = state_of(ctx)
    path = _db_path(db)
    with open_sandbox_store(path) as store:
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
