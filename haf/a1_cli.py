"""`haf a1 …`: the operator's A1-P v2 client (the OSC A1 mediator or the standalone xApp).

A policy file is validated against the HAF policy type before anything is sent; errors name
the file position (bad JSON) or the field (schema), and an A1 error answer is shown with its
status and body. Exit codes: 0 done, 1 the endpoint refused or is unreachable, 2 bad input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from a1_policies.haf_placement import (
    INSTANCE_ID_PATTERN,
    MAX_REQUEST_DEPTH,
    POLICY_TYPE_ID,
    PolicyError,
    validate_policy,
)
from haf.app import UsageError, app, console
from proto import safejson
from proto.errors import HafError

a1_app = typer.Typer(
    help="Operator A1-P v2 client: list/create policy types, put/get/delete policies, status.",
    no_args_is_help=True,
)
app.add_typer(a1_app, name="a1")

UrlOpt = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="HAF_A1_URL",
        help="A1-P v2 endpoint base (OSC mediator: http://<ric>:10000).",
    ),
]
TypeOpt = Annotated[int, typer.Option("--type", help="Policy type id.")]
PrefixOpt = Annotated[
    str,
    typer.Option(
        "--prefix",
        envvar="HAF_A1_PREFIX",
        help="A1-P path prefix: /A1-P/v2 (the O-RAN standard, OSC Go mediator), /a1-p (OSC's "
        "older flavour), or auto (ask which one answers).",
    ),
]
IdArg = Annotated[str, typer.Argument(help="Policy instance id.")]


def _client(url: str, type_id: int, prefix: str = "auto"):
    from rapp_placement.a1client import NearRtA1, Retry

    try:
        return NearRtA1(url, type_id, Retry(retries=1, backoff_s=0.2, timeout_s=5.0), prefix=prefix)
    except HafError as exc:
        raise UsageError(f"--url/--prefix: {exc}") from None


def _check_id(policy_id: str) -> str:
    if not re.match(INSTANCE_ID_PATTERN, policy_id):
        raise UsageError(f"policy id {policy_id[:80]!r}: must match {INSTANCE_ID_PATTERN}")
    return policy_id


def _call(fn, *args):
    from rapp_placement.a1client import A1Error

    try:
        return fn(*args)
    except A1Error as exc:
        console.print(f"[bold red]A1 error:[/bold red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None


def load_policy_file(path: Path) -> dict:
    """Read and validate a policy file (bounded: size, depth, finite numbers); the error names
    the file and the line (bad JSON) or the field (schema)."""
    policy = safejson.load_file(path, "policy file", MAX_REQUEST_DEPTH)
    try:
        return validate_policy(policy)
    except PolicyError as exc:
        raise UsageError(f"{path}: {exc}") from None


@a1_app.command("types")
def types_cmd(
    url: UrlOpt = "http://127.0.0.1:10000",
    type_id: TypeOpt = POLICY_TYPE_ID,
    prefix: PrefixOpt = "auto",
    create: Annotated[
        bool, typer.Option("--create", help="Create the HAF policy type if it is missing.")
    ] = False,
) -> None:
    """List the policy types; with --create, create the HAF type (OSC create_schema form)."""
    client = _client(url, type_id, prefix)
    if create:
        _call(client.ensure_type)
    ids = _call(client.list_types)
    console.print(" ".join(str(i) for i in ids) or "(no policy types)", highlight=False)


@a1_app.command("put")
def put_cmd(
    policy_id: IdArg,
    policy_file: Annotated[Path, typer.Argument(help="Policy JSON (a1_policies/examples/).")],
    url: UrlOpt = "http://127.0.0.1:10000",
    type_id: TypeOpt = POLICY_TYPE_ID,
    prefix: PrefixOpt = "auto",
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for ENFORCED (0: do not).", min=0)
    ] = 2.0,
) -> None:
    """Validate POLICY_FILE, then PUT it as instance POLICY_ID and wait for its status."""
    from rapp_placement.a1client import wait_enforced

    _check_id(policy_id)
    policy = load_policy_file(policy_file)
    client = _client(url, type_id, prefix)
    code = _call(client.put, policy_id, policy)
    console.print(f"PUT {policy_id}: HTTP {code}", highlight=False)
    if wait > 0:
        st = _call(wait_enforced, client, policy_id, wait)
        _print_status(policy_id, st)
        if st.get("enforceStatus") != "ENFORCED":
            raise typer.Exit(1)


@a1_app.command("get")
def get_cmd(
    policy_id: Annotated[
        str | None, typer.Argument(help="Policy instance id (none: list the instances).")
    ] = None,
    url: UrlOpt = "http://127.0.0.1:10000",
    type_id: TypeOpt = POLICY_TYPE_ID,
    prefix: PrefixOpt = "auto",
) -> None:
    """Print a policy instance (JSON), or list the instances of the type."""
    client = _client(url, type_id, prefix)
    if policy_id is None:
        ids = _call(client.list_policies)
        console.print("\n".join(ids) or "(no policy instances)", highlight=False)
        return
    console.print_json(json.dumps(_call(client.get, _check_id(policy_id))))


@a1_app.command("delete")
def delete_cmd(
    policy_id: IdArg,
    url: UrlOpt = "http://127.0.0.1:10000",
    type_id: TypeOpt = POLICY_TYPE_ID,
    prefix: PrefixOpt = "auto",
) -> None:
    """Delete a policy instance."""
    _call(_client(url, type_id, prefix).delete, _check_id(policy_id))
    console.print(f"deleted {policy_id}", highlight=False)


@a1_app.command("status")
def status_cmd(
    policy_id: IdArg,
    url: UrlOpt = "http://127.0.0.1:10000",
    type_id: TypeOpt = POLICY_TYPE_ID,
    prefix: PrefixOpt = "auto",
) -> None:
    """Print a policy instance's enforcement status (the standard's enforceStatus, or the
    older mediator's instance_status, shown both ways)."""
    _print_status(policy_id, _call(_client(url, type_id, prefix).status, _check_id(policy_id)))


def _print_status(policy_id: str, st: dict) -> None:
    t = Table(show_header=False)
    t.add_row("instance", escape(policy_id))
    for k, v in st.items():
        t.add_row(escape(k), escape(str(v)))
    console.print(t)
