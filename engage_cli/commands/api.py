"""`engage api METHOD PATH`: any call to the configured API, for what the commands do not
cover (lists, accounts, merge), with the same credentials, retries, errors and --dry-run."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional
from urllib.parse import parse_qsl

import typer

from engage_cli.commands._common import DataOpt, DryRunOpt, send_or_show, state_of
from engage_cli.errors import UsageError

app = typer.Typer(add_completion=False)  # completion is the root's business


class Method(str, Enum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class ApiFormat(str, Enum):
    """Only the JSON formats: an arbitrary answer has no table or CSV shape."""

    json = "json"
    ndjson = "ndjson"


def _method(value: str) -> str:
    """The method in any case (get is GET); a refusal names them as the help does."""
    try:
        return Method(value.upper()).value
    except ValueError:
        names = ", ".join(method.value for method in Method)
        raise typer.BadParameter(f"{value!r} is not one of {names}.") from None


def _complete_method(incomplete: str) -> list[str]:
    # In the case being typed: Typer keeps only what starts with `incomplete` as it is.
    names = [m.value for m in Method if m.value.startswith(incomplete.upper())]
    return [name.lower() for name in names] if incomplete.islower() else names


@app.command("api")
def api(
    ctx: typer.Context,
    method: Annotated[
        str,
        typer.Argument(
            metavar="METHOD",
            parser=_method,
            autocompletion=_complete_method,
            help="GET, POST, PUT, PATCH or DELETE (any case).",
        ),
    ],
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH", help="Path under the base URL, e.g. /users/u144 or '/users?limit=5'."
        ),
    ],
    fields: Annotated[
        Optional[list[str]],
        typer.Option(
            "--field",
            "-f",
            metavar="K=V|K:=JSON",
            help="A body field: K=V is a string, K:=JSON a literal (age:=34, lists:='[\"l1\"]').",
        ),
    ] = None,
    data: DataOpt = None,
    param: Annotated[
        Optional[list[str]],
        typer.Option(
            "--param",
            "-p",
            metavar="K=V",
            help="A query parameter (repeat); --query reshapes the answer (JMESPath).",
        ),
    ] = None,
    paginate: Annotated[
        bool,
        typer.Option(
            "--paginate", help="Follow every page of a GET list; prints its items as ndjson."
        ),
    ] = False,
    output: Annotated[
        Optional[ApiFormat],
        typer.Option(
            "--output",
            "-o",
            help="json (default) or ndjson (default with --paginate).",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Send any request to the Engage API and print its JSON answer.

    The escape hatch for endpoints the other commands do not cover, sent with the
    profile's credentials, retries and error handling.

    Example: engage api GET /users -p limit=5 --query 'data[].uid'
    """
    from engage_cli import endpoints, inputs

    state = state_of(ctx)
    out = state.choose_output(_format(output, paginate))
    path, params = _split_query(path)
    params.update(_query_pairs(param))
    fields_body = inputs.parse_pairs(fields, "--field")
    body = None
    if data is not None or fields_body:
        base = inputs.load_data(data, state.streams.stdin) if data is not None else None
        body = inputs.merge_body(base, fields_body or {})
    _check(Method(method), body, paginate)
    request = endpoints.raw(method, path, params, body)
    if paginate and not dry_run:
        with state.client() as client:
            out.items(client.paginate(request))
        return
    answer = send_or_show(state, out, request, dry_run)
    if answer is not None:
        out.object(answer)


def _format(output: ApiFormat | None, paginate: bool) -> str:
    if output is not None:
        return output.value
    return "ndjson" if paginate else "json"


def _split_query(path: str) -> tuple[str, dict[str, str]]:
    """`/users?limit=5` works as typed; the query becomes params so that --paginate can
    replace the cursor and --dry-run shows one URL."""
    if path.startswith(("http://", "https://")):
        raise UsageError(
            f"PATH {path!r} is a full URL; give the path under the base URL, e.g. /users.",
            hint="Choose the server with --base-url or ENGAGE_BASE_URL.",
        )
    path, _, query = path.partition("?")
    return path, dict(parse_qsl(query, keep_blank_values=True))


def _query_pairs(items: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {item!r}: expected KEY=VALUE.", hint="E.g. --param limit=5")
        params[key] = value
    return params


def _check(method: Method, body: Any, paginate: bool) -> None:
    if body is not None and method is Method.GET:
        raise UsageError(
            "A GET request carries no body (--field / --data).",
            hint="Send parameters with --param K=V.",
        )
    if paginate and method is not Method.GET:
        raise UsageError("--paginate follows the pages of a GET list only.")
