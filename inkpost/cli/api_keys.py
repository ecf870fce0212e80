"""CLI commands about keys of the integration API: create (the key is printed once),
list, revoke."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from inkpost.cli.context import JsonOption, OrgScope, client_id, in_org
from inkpost.cli.output import Column, emit_json, say, show_rows
from storage.models import ApiKey
from workflows import api_keys

api_key_app = typer.Typer(
    help="Keys of the integration API (/api/v1) for other systems.", no_args_is_help=True
)

KEY_COLUMNS = (
    Column("id", "Id", "right"),
    Column("name", "Name"),
    Column("prefix", "Starts with"),
    Column("scopes", "Scopes"),
    Column("clients", "Clients"),
    Column("last_used_at", "Last used"),
    Column("created_at", "Created"),
)


def key_row(key: ApiKey, client_ids: tuple[int, ...] = ()) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": ", ".join(key.scopes),
        "clients": ", ".join(str(c) for c in client_ids) if key.walled else "every client",
        "client_ids": list(client_ids) if key.walled else None,
        "created_by": key.created_by,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


@api_key_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="What the key is for, e.g. erp-sync.")
    ],
    *,
    scopes: Annotated[
        list[str],
        typer.Option(
            "--scope",
            metavar="SCOPE",
            help="read, write, sign or admin; repeat for several (admin allows everything).",
            show_default=False,
        ),
    ],
    clients: Annotated[
        list[str] | None,
        typer.Option(
            "--client",
            metavar="CLIENT",
            help="Limit the key to this client (id or name), as an ethical wall; repeat for "
            "several. Without it the key sees every client.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key and print it. It is shown only this once: only its hash is kept."""

    async def work(scope: OrgScope) -> api_keys.IssuedKey:
        return await api_keys.create_key(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            name=name,
            scopes=scopes,
            client_ids=[await client_id(scope, c) for c in clients or ()],
        )

    issued = in_org(ctx, work)
    key = issued.key
    if as_json:
        emit_json({**key_row(key), "key": issued.token})
        return
    say(f"API key {key.id} '{key.name}' ({', '.join(key.scopes)}):")
    say(issued.token)
    say("Store it now: it is shown only this once and cannot be recovered.")


@api_key_app.command("list")
def list_keys(
    ctx: typer.Context,
    *,
    revoked: Annotated[bool, typer.Option("--revoked", help="Show revoked keys too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The organisation's API keys: name, scopes, clients and when each was last used."""

    async def work(scope: OrgScope) -> list[api_keys.KeySummary]:
        return await api_keys.list_keys(scope.env, org_id=scope.org_id, include_revoked=revoked)

    rows = [key_row(s.key, s.client_ids) for s in in_org(ctx, work)]
    show_rows(rows, columns=KEY_COLUMNS, title="API keys", as_json=as_json)


@api_key_app.command("revoke")
def revoke(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="KEY", help="The key's id or name.")],
    *,
    as_json: JsonOption = False,
) -> None:
    """Revoke an API key: every request with it is refused from now on."""

    async def work(scope: OrgScope) -> ApiKey:
        found = await api_keys.find_key(scope.env, org_id=scope.org_id, which=key)
        assert found.id is not None
        return await api_keys.revoke_key(
            scope.env, org_id=scope.org_id, actor=scope.actor, key_id=found.id
        )

    revoked = in_org(ctx, work)
    if as_json:
        emit_json(key_row(revoked))
        return
    say(f"Revoked API key {revoked.id} '{revoked.name}'.")
