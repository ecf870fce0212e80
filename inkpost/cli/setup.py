"""Setting up and serving: `init`, `db upgrade`, `serve` and `demo`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from inkpost.cli.context import (
    cli_state,
    describe_blobs,
    describe_database,
    settings_of,
    with_runtime,
)
from inkpost.cli.output import emit_json, say
from inkpost.cli.root import listening_on
from storage import migrate

if TYPE_CHECKING:
    from inkpost.runtime import Runtime
    from inkpost.seal import SealSetup
    from inkpost.settings import Settings

db_app = typer.Typer(help="The database schema.", no_args_is_help=True)


def init(ctx: typer.Context) -> None:
    """Create the data directory, bring the database up to date, check the blob store and
    create the self-signed seal unless one is configured (an existing seal is kept)."""
    from inkpost import seal

    settings = settings_of(ctx)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    seal_setup = seal.ensure_seal(settings)

    async def work(runtime: Runtime) -> bool:
        applied = await migrate.upgrade(runtime.engine)
        await runtime.env.blobs.check()
        return applied

    applied = with_runtime(ctx, work, schema="as is")
    say(f"Data directory: {settings.data_dir.resolve()}")
    say(f"Database:       {describe_database(settings)}")
    say(f"Blob store:     {describe_blobs(settings)}")
    schema = "created" if applied else "already up to date"
    say(f"Schema:         {schema} (revision {migrate.head_revision()})")
    say(f"Seal:           {describe_seal(seal_setup)}")
    say("Next: inkpost org create SLUG 'Full Name', then inkpost serve.")


def describe_seal(setup: SealSetup) -> str:
    what = {
        "created": "created self-signed",
        "kept": "kept existing",
        "configured": "configured",
    }[setup.outcome]
    until = setup.key.not_after.date().isoformat()
    return f"{what} '{setup.key.common_name}' at {setup.source} (valid until {until})"


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Apply pending migrations."""

    async def work(runtime: Runtime) -> tuple[str | None, bool]:
        before = await migrate.current_revision(runtime.engine)
        return before, await migrate.upgrade(runtime.engine)

    before, applied = with_runtime(ctx, work, schema="as is")
    head = migrate.head_revision()
    if as_json:
        emit_json({"applied": applied, "from": before, "to": head})
    elif applied:
        say(f"Upgraded {describe_database(settings_of(ctx))} from {before or 'empty'} to {head}.")
    else:
        say(f"Already at {head}; nothing applied.")


def _served(ctx: typer.Context, *, host: str | None, port: int | None) -> Settings:
    state = cli_state(ctx)
    return listening_on(
        state.settings, host=host, port=port, explicit_url=state.explicit_public_url
    )


HostOption = Annotated[
    str | None,
    typer.Option(help="Address to listen on (default: INKPOST_HOST).", show_default=False),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        min=0, max=65535, help="Port to listen on (default: INKPOST_PORT).", show_default=False
    ),
]


def serve(ctx: typer.Context, *, host: HostOption = None, port: PortOption = None) -> None:
    """Serve the web app until SIGTERM or Ctrl-C (migrating the database first if needed)."""
    from inkpost import server

    settings = _served(ctx, host=host, port=port)
    server.configure_logging()

    async def work(runtime: Runtime) -> None:
        def ready(addresses: list[str]) -> None:
            say(f"Inkpost is serving on {', '.join(addresses)} (public URL {settings.public_url})")
            say("Press Ctrl-C to stop.")

        await server.serve(runtime, ready=ready)

    with_runtime(ctx, work, schema="upgrade", settings=settings, serving=True)


def demo(
    ctx: typer.Context,
    *,
    port: PortOption = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Set up and print the link, then exit.")
    ] = False,
) -> None:
    """Set up a demo organisation with a shared fee table, print its link and serve it."""
    from inkpost import demo as demo_setup
    from inkpost import server

    settings = _served(ctx, host=None, port=port)
    if not no_serve:
        server.configure_logging()

    async def work(runtime: Runtime) -> None:
        setup = await demo_setup.prepare_demo(runtime)
        what = "Reused" if setup.reused else "Created"
        say(
            f"{what} the demo organisation '{setup.organization.slug}' in "
            f"{settings.data_dir.resolve()}; {setup.document.ref} “{setup.document.title}” "
            "is shared by a new link:"
        )
        say(setup.url)
        if no_serve:
            return

        def ready(addresses: list[str]) -> None:
            say(f"Serving on {', '.join(addresses)}. Open the link above; Ctrl-C stops.")

        await server.serve(runtime, ready=ready)

    with_runtime(ctx, work, schema="upgrade", settings=settings, serving=not no_serve)
