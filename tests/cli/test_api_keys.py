"""`inkpost api-key`: a key is printed once and kept only as a hash; keys are listed with
their scopes, clients and last use, and revoked for good."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from tests.cli.conftest import Cli, Office
from workflows import api_keys
from workflows.api_keys import BadKey
from workflows.context import Env


def authenticate(cli: Cli, token: str) -> api_keys.KeyHolder:
    async def check() -> api_keys.KeyHolder:
        engine = make_engine(cli.database_url)
        try:
            env = Env(sessions=make_session_factory(engine), blobs=FileBlobStore(cli.blobs_root))
            return await api_keys.authenticate(env, token=token)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def test_create_prints_the_key_once_and_stores_only_its_hash(cli: Cli, office: Office) -> None:
    out = cli.ok("api-key", "create", "erp-sync", "--scope", "read", "--scope", "write").stdout
    lines = out.strip().splitlines()
    assert lines[0] == "API key 1 'erp-sync' (read, write):"
    token = lines[1]
    assert token.startswith("ink_")
    [(stored_hash, prefix)] = cli.query("SELECT token_hash, prefix FROM api_key")
    assert stored_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(cli.query("SELECT * FROM api_key"))
    assert token.startswith(prefix)
    holder = authenticate(cli, token)
    assert holder.scopes == {"read", "write"} and holder.wall is None
    [label] = cli.query("SELECT actor_label FROM auditevent WHERE action = 'api_key.created'")
    assert label[0].startswith("operator ")


def test_list_shows_name_scopes_clients_and_last_use(cli: Cli, office: Office) -> None:
    cli.ok("api-key", "create", "erp-sync", "--scope", "admin")
    cli.ok("api-key", "create", "timber-only", "--scope", "read", "--client", "Nordic Timber")
    rows = cli.json("api-key", "list")
    assert [(r["name"], r["scopes"], r["client_ids"]) for r in rows] == [
        ("erp-sync", "admin", None),
        ("timber-only", "read", [office.client_id]),
    ]
    assert rows[0]["last_used_at"] is None
    table = cli.ok("api-key", "list").stdout
    assert "erp-sync" in table and "every client" in table


def test_a_key_limited_to_a_client_carries_its_wall(cli: Cli, office: Office) -> None:
    token = cli.json("api-key", "create", "timber", "--scope", "read", "--client", "1")["key"]
    holder = authenticate(cli, token)
    assert holder.wall is not None and holder.wall.client_ids == {office.client_id}


def test_revoked_key_is_refused_and_leaves_the_list(cli: Cli, office: Office) -> None:
    token = cli.json("api-key", "create", "erp-sync", "--scope", "read")["key"]
    assert cli.ok("api-key", "revoke", "erp-sync").stdout.strip() == (
        "Revoked API key 1 'erp-sync'."
    )
    with pytest.raises(BadKey, match="revoked"):
        authenticate(cli, token)
    assert cli.json("api-key", "list") == []
    assert [r["name"] for r in cli.json("api-key", "list", "--revoked")] == ["erp-sync"]
    assert "no API key 'erp-sync'" in cli.fails("api-key", "revoke", "erp-sync")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--scope", "root"), "unknown scope 'root'"),
        (("--scope", "read", "--client", "Nobody Ltd"), "Nobody Ltd"),
    ],
)
def test_bad_create_options_create_nothing(
    cli: Cli, office: Office, args: tuple[str, ...], says: str
) -> None:
    assert says in cli.fails("api-key", "create", "erp-sync", *args)
    assert cli.count("api_key") == 0


def test_a_second_live_key_with_the_same_name_is_refused(cli: Cli, office: Office) -> None:
    cli.ok("api-key", "create", "erp-sync", "--scope", "read")
    assert "already exists" in cli.fails("api-key", "create", "erp-sync", "--scope", "read")
    assert cli.count("api_key") == 1


def test_only_administrators_manage_keys(cli: Cli, office: Office) -> None:
    cli.ok("staff", "add", "Mia Member", "--email", "mia@acme.test")
    cli.ok("staff", "add", "Ada Admin", "--email", "ada@acme.test", "--role", "admin")
    member = {"INKPOST_STAFF": "mia@acme.test"}
    admin = {"INKPOST_STAFF": "ada@acme.test"}

    refused = cli.fails("api-key", "create", "erp-sync", "--scope", "read", env=member)
    cli.ok("api-key", "create", "erp-sync", "--scope", "read", env=admin)

    assert "only administrators may manage API keys" in refused
    assert "only administrators" in cli.fails("api-key", "revoke", "erp-sync", env=member)
    [label] = cli.query("SELECT actor_label FROM auditevent WHERE action = 'api_key.created'")
    assert label[0] == "Ada Admin"
