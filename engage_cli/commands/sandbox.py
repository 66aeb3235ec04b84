"""`engage sandbox ...`: the local Engage-compatible server and its store."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from engage_cli.commands import sandbox_control
from engage_cli.commands._common import state_of
from engage_cli.errors import UsageError

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.COMMANDS

DbOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--db",
        metavar="PATH",
        help="SQLite file of the sandbox (else ENGAGE_SANDBOX_DB, else the user data dir).",
    ),
]
StateOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--state",
        metavar="FILE",
        help="Start from this snapshot (`engage sandbox export`'s), replacing what --db held.",
    ),
]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_LATENCY_MS = 600_000.0  # ten minutes: past any client's timeout


def _db_path(db: Path | None) -> Path:
    from engage_cli.sandbox.api import default_db_path

    return db if db is not None else default_db_path()


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
    state_file: StateOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log each request to stderr.")] = False,
) -> None:
    """Serve the Engage API on loopback until Ctrl-C or SIGTERM.

    The first line of stdout is the base URL, then the credentials it accepts, so a script
    can start it with --port 0 and read where it listens.

    Example: engage sandbox serve --port 0 --latency 50 --fail-rate 0.1
    """
    from engage_cli.context import open_sandbox_store
    from engage_cli.sandbox.server import run_sandbox_server
    from engage_cli.sandbox.snapshot import StateError, parse_state

    state = state_of(ctx)
    if state_file is not None:  # a bad snapshot is refused before the store is touched
        try:
            parse_state(sandbox_control.read_document(state, str(state_file)))
        except StateError as exc:
            raise UsageError(f"--state {state_file}: {exc}") from exc
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
            state_file=state_file,
            verbose=verbose,
            out=state.streams.stdout,
            err=state.streams.stderr,
        )
    except OSError as exc:
        raise UsageError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
            hint="Choose another --port, or --port 0 for any free one.",
        ) from exc


app.command("events")(sandbox_control.events)
app.command("requests")(sandbox_control.requests)
app.command("batches")(sandbox_control.batches)
app.command("reset")(sandbox_control.reset)
app.command("export")(sandbox_control.export)
app.command("import")(sandbox_control.import_)
