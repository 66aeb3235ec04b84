"""`engage seed plan | apply | down`: make an account hold exactly what a seed file declares
(its lists, accounts and users, their memberships, and the events of new users).

The work is in `engage_cli.seed` (the file, what the account holds, the plan, apply through the
bulk driver); these commands parse options, ask before deleting, and print."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from engage_cli.commands._common import (
    DryRunOpt,
    OutputFormat,
    OutputOpt,
    YesOpt,
    confirm_or_refuse,
    fmt,
    state_of,
)
from engage_cli.commands.bulk import ConcurrencyOpt  # the bulk commands' own option

if TYPE_CHECKING:
    from engage_cli.context import State
    from engage_cli.output import Output
    from engage_cli.seed.apply import Applied
    from engage_cli.seed.file import Seed
    from engage_cli.seed.plan import Plan
    from engage_cli.seed.state import Holdings

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.COMMANDS

FileArg = Annotated[
    str,
    typer.Argument(
        metavar="FILE",
        help="The seed file: YAML (.yaml, .yml) or JSON (.json); - reads YAML from stdin.",
    ),
]
PruneOpt = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Also delete the users and accounts marked meta.seed: NAME that the file no "
        "longer declares.",
    ),
]
FAILURES_SHOWN = 20  # failed actions named in the error; the rest are counted
DONE = {  # an action, as the summary counts it when it landed
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "archive": "archived",
    "join_lists": "joined lists",
    "leave_lists": "left lists",
    "join_accounts": "joined accounts",
    "set_role": "changed roles",
    "leave_account": "left accounts",
    "send_event": "events sent",
}


def _prepare(
    ctx: typer.Context,
    file: str,
    output: OutputFormat | None,
    *,
    prune: bool,
    concurrency: int | None,
) -> tuple[State, Output, Seed, Holdings]:
    """The state, the output, the seed (exit 2 on a bad file, before any request) and what
    the account holds."""
    from engage_cli.bulk.runner import DEFAULT_CONCURRENCY
    from engage_cli.seed import file as seed_file
    from engage_cli.seed import state as holdings

    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    seed = seed_file.load(file, state.streams.stdin, state.streams.environ)
    workers = concurrency or DEFAULT_CONCURRENCY
    held = holdings.read(
        lambda: state.client(max_connections=workers), seed, prune=prune, concurrency=workers
    )
    for title in held.duplicate_titles:
        out.warn(f"two lists are titled {title!r}; the seed uses the older one.")
    out.info(f"Read the account: {held.how}.")
    return state, out, seed, held


@app.command("plan")
def plan_(
    ctx: typer.Context,
    file: FileArg,
    prune: PruneOpt = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 8 when the account differs from the file.")
    ] = False,
    concurrency: ConcurrencyOpt = None,
    output: OutputOpt = None,
) -> None:
    """Show what `seed apply` would change; send no write.

    A diff on a terminal: + create, ~ update (old -> new per field), - delete, memberships
    and events to send, and a summary line. `-o json` gives {seed, actions, summary}, the
    actions being only changes. --check exits 8 when there is any.

    Example: RUN_ID=ci engage seed plan examples/seed.yaml
    """
    from engage_cli.seed.plan import plan_apply

    _, out, seed, held = _prepare(ctx, file, output, prune=prune, concurrency=concurrency)
    plan = plan_apply(seed, held, prune=prune)
    _show_plan(out, plan)
    if check and plan.actions:
        from engage_cli.errors import Drift

        count = len(plan.actions)
        raise Drift(
            f"The account differs from seed {seed.name}: {count} "
            f"{'action' if count == 1 else 'actions'} to apply.",
            hint=f"engage seed apply {file}",
        )


def _show_plan(out: Output, plan: Plan) -> None:
    if out.format == "table":
        from engage_cli.seed.render import lines

        out.write("".join(line + "\n" for line in lines(plan, out.color)))
    else:
        out.object(plan.to_dict())


@app.command("apply")
def apply_(
    ctx: typer.Context,
    file: FileArg,
    prune: PruneOpt = False,
    yes: YesOpt = False,
    concurrency: ConcurrencyOpt = None,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Make the account hold what the file declares; a second run sends nothing.

    Creates what is missing, updates only the fields the file declares (other fields and meta
    keys are left alone), joins the declared lists and accounts (and leaves the seed's own
    ones the file does not give), and sends a new user's events once. Every user and account
    written carries meta.seed: NAME. With --prune, deletions ask on a terminal and need
    --yes elsewhere. Actions that fail exit 7, named; applying again finishes them.

    Example: RUN_ID=ci engage seed apply examples/seed.yaml --yes
    """
    from engage_cli.seed.plan import plan_apply

    state, out, seed, held = _prepare(ctx, file, output, prune=prune, concurrency=concurrency)
    plan = plan_apply(seed, held, prune=prune)
    deletes = sum(1 for a in plan.actions if a.action == "delete")
    if deletes and not yes and not dry_run:
        confirm_or_refuse(
            state,
            f"Delete {deletes} users and accounts marked as seed {seed.name}'s that the file "
            "no longer declares?",
        )
    _run(state, out, seed, held, plan, concurrency, dry_run, file, "seed apply")


@app.command("down")
def down(
    ctx: typer.Context,
    file: FileArg,
    yes: YesOpt = False,
    concurrency: ConcurrencyOpt = None,
    dry_run: DryRunOpt = False,
    output: OutputOpt = None,
) -> None:
    """Delete the file's users and accounts and archive its lists; twice is fine.

    Every user and account the file declares (repeats expanded) that carries meta.seed: NAME
    is deleted; one without the mark is left alone, with a warning. What is gone already is
    done. Asks first on a terminal, and needs --yes elsewhere.

    Example: RUN_ID=ci engage seed down examples/seed.yaml --yes
    """
    from engage_cli.seed.plan import plan_down

    state, out, seed, held = _prepare(ctx, file, output, prune=False, concurrency=concurrency)
    plan = plan_down(seed, held)
    if plan.skipped:
        shown = ", ".join(repr(uid) for uid in plan.skipped[:FAILURES_SHOWN])
        out.warn(
            f"not deleted, as they do not carry meta.seed: {seed.name}: {shown}"
            + (
                f" and {len(plan.skipped) - FAILURES_SHOWN} more"
                if len(plan.skipped) > FAILURES_SHOWN
                else ""
            )
        )
    if plan.actions and not yes and not dry_run:
        users = sum(1 for a in plan.actions if a.action == "delete")
        lists = len(plan.actions) - users
        confirm_or_refuse(
            state, f"Delete {users} users and accounts and archive {lists} lists of {seed.name}?"
        )
    _run(state, out, seed, held, plan, concurrency, dry_run, file, "seed down")


def _run(
    state: State,
    out: Output,
    seed: Seed,
    held: Holdings,
    plan: Plan,
    concurrency: int | None,
    dry_run: bool,
    file: str,
    command: str,
) -> None:
    from engage_cli.commands._bulk_report import TerminalReporter
    from engage_cli.seed.apply import apply

    with TerminalReporter(state, out, command) as reporter:
        applied = apply(
            plan,
            seed,
            held,
            state.client,
            reporter,
            concurrency=concurrency,
            dry_run=dry_run,
        )
    _report(state, out, plan, applied, dry_run, command)
    _raise_for(applied, file, command, seed.name)


def _report(
    state: State, out: Output, plan: Plan, applied: Applied, dry_run: bool, command: str
) -> None:
    from engage_cli.seed.plan import ACTIONS

    landed = dict.fromkeys(ACTIONS, 0)
    for action in applied.landed:
        landed[action.action] += 1
    if out.format != "table":
        report = {
            "seed": plan.seed,
            "dry_run": dry_run,
            "landed": landed,
            "failed": [failure.to_dict() for failure in applied.failures],
            "requests": applied.would_send if dry_run else applied.requests,
            "retries": applied.retries,
            "rate_limited": applied.rate_limited,
            "elapsed": round(applied.elapsed, 3),
        }
        out.object(report)
        return
    stderr = state.streams.stderr
    from engage_cli.seed.render import text

    if dry_run:
        line = (
            f"{command} (dry run): {applied.would_send:,} requests would be sent; nothing was sent."
        )
    elif not plan.actions:
        line = f"{command} {text(plan.seed)}: nothing to do; nothing was sent."
    else:
        done = ", ".join(f"{n:,} {DONE[name]}" for name, n in landed.items() if n)
        line = (
            f"{command} {text(plan.seed)}: {done or 'nothing landed'}; "
            f"{len(applied.failures):,} did not land; {applied.requests:,} requests in "
            f"{applied.elapsed:.1f}s."
        )
    stderr.write(line + "\n")
    stderr.flush()


def _stem(file: str, name: str) -> str:
    """Where files of this run go: beside the seed file; for stdin, the current directory."""
    from engage_cli.seed.source import STDIN

    return f"engage-seed-{name}" if file == STDIN else file


def _raise_for(applied: Applied, file: str, command: str, name: str) -> None:
    """Exit 0 when every action landed; else the run's stop (3, 6, 130) or 7, naming what did
    not land. Events are sent only when apply creates their user, which now exists: those
    that certainly did not land are saved for `engage events import`."""
    import shlex

    from engage_cli.errors import Interrupted, PartialFailure
    from engage_cli.seed.apply import names, save_unsent_events

    if not applied.failures and applied.stopped is None:
        return
    again = f"Run `engage {command} {file}` again to finish the rest."
    saved = save_unsent_events(applied.failures, _stem(file, name))
    if saved is not None:
        again += (
            f" Events are sent only when apply creates their user: those that did not land are "
            f"in {saved}; send them with: engage events import {shlex.quote(str(saved))}"
        )
    if any(f.action.action == "send_event" and f.outcome == "unknown" for f in applied.failures):
        again += " An event sent without an answer may have been recorded: it is not re-sent."
    stopped = applied.stopped
    if stopped is not None:
        error = stopped.fatal or stopped.down
        if error is None and stopped.ledger_error is not None:
            error = PartialFailure(f"Stopped: {stopped.ledger_error.reason}.")
        if error is None:
            error = Interrupted("Interrupted.")
        error.hint = f"{error.hint or ''} {again}".strip()
        raise error
    shown = names(applied.failures[:FAILURES_SHOWN])
    more = len(applied.failures) - FAILURES_SHOWN
    listing = "\n".join(f"  {line}" for line in shown)
    if more > 0:
        listing += f"\n  ... and {more} more"
    total = len(applied.failures) + len(applied.landed)
    raise PartialFailure(
        f"{len(applied.failures)} of {total} actions did not land:\n{listing}", hint=again
    )
