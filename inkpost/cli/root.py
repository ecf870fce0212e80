"""The `inkpost` command: setup, serving, and admin commands over the workflows.

Every failure leaves through ``InkpostGroup.main``, the one place that turns an exception
into a line on stderr and an exit code:

==========================================  ====  ==========================================
what                                        exit  shown as
==========================================  ====  ==========================================
WorkflowError (not found, not allowed,      2     ``error: <its message>``
conflict, invalid input, gone, outside the
window), UserError (files, option mixes),
bad option values, bad dates, bad settings
Unavailable, the database failing, OSError  1     ``error: <what failed>``
anything else                               1     ``error: unexpected failure: ...``
                                                  (+ traceback with --debug/INKPOST_DEBUG=1)
``audit verify`` finding a broken chain     1     the first event that does not match
Ctrl-C during a command                     130
==========================================  ====  ==========================================
"""

from __future__ import annotations

import inspect
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import pydantic
import typer
from sqlalchemy.exc import DBAPIError
from typer._click.exceptions import NoArgsIsHelpError
from typer.core import TyperArgument, TyperGroup, TyperOption

from inkpost import seal
from inkpost.cli import (
    audit,
    chat,
    doctor,
    documents,
    organizations,
    people,
    reminders,
    sharing,
    signing,
    slack,
    spaces,
)
from inkpost.cli.context import (
    CliState,
    cli_state,
    describe_blobs,
    describe_database,
    first_line,
    settings_of,
    with_runtime,
)
from inkpost.cli.output import emit_json, say
from inkpost.errors import UserError
from inkpost.runtime import Runtime
from inkpost.settings import Settings
from storage import migrate
from workflows.errors import Unavailable, WorkflowError

USER_ERROR = 2
FAILURE = 1


class InkpostGroup(TyperGroup):
    """The root command: runs the CLI and maps every failure to one line and a code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        tidy_help(self)
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except Exception as error:
            code = report_failure(error, debug=debug_requested(argv))
        if standalone_mode:
            sys.exit(code)
        return code


def tidy_help(command: Any) -> None:
    """Help that reads as prose: a docstring's line breaks inside a paragraph become spaces
    (rich help keeps them, breaking sentences mid-way); a flag or a named argument shows no
    type placeholder such as ``<bool>`` beside it, and a value's type reads as a word."""
    command.help = reflow(command.help)
    for param in command.params:
        if isinstance(param, TyperOption):
            param.help = reflow(param.help)
        shown = getattr(param, "display_type_rich", None)
        if shown is None:
            continue
        if getattr(param, "is_flag", False) or isinstance(param, TyperArgument):
            param.display_type_rich = _no_type
        else:
            param.display_type_rich = _worded(shown)
    command.get_help_option = _untyped(command.get_help_option)
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)


PLACEHOLDERS = {
    "<str>": "TEXT",
    "<int>": "N",
    "<int range>": "N",
    "<path>": "PATH",
    "<float>": "NUMBER",
}


def _untyped(make_option: Any) -> Any:
    """``--help`` is made anew for each context; it gets no placeholder either."""

    def help_option(ctx: Any) -> Any:
        option = make_option(ctx)
        if option is not None:
            option.display_type_rich = _no_type
        return option

    return help_option


def _no_type(ctx: Any) -> None:
    return None


def _worded(shown: Any) -> Any:
    def display(ctx: Any) -> str | None:
        text = shown(ctx)
        return PLACEHOLDERS.get(text, text) if text is not None else None

    return display


def reflow(text: str | None) -> str | None:
    """``text`` with each paragraph on one line (paragraphs stay apart)."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def debug_requested(argv: Sequence[str]) -> bool:
    flag = os.environ.get("INKPOST_DEBUG", "").strip().lower()
    return "--debug" in argv or flag in ("1", "true", "yes", "on")


def report_failure(error: Exception, *, debug: bool) -> int:
    """Print one line for ``error`` (plus its traceback when debugging); return the code."""
    if isinstance(error, NoArgsIsHelpError):
        if error.format_message():  # rich has printed the help itself
            typer.echo(error.format_message(), err=True)
        return USER_ERROR
    code, message = classify(error)
    notes = getattr(error, "__notes__", None) or []
    if notes:
        message = f"{message} ({'; '.join(notes)})"
    typer.echo(f"error: {first_line(message)}", err=True)
    if debug and not isinstance(error, typer.TyperException):
        traceback.print_exception(error, file=sys.stderr)
    return code


def classify(error: Exception) -> tuple[int, str]:
    """The exit code and the message for a failure."""
    if isinstance(error, Unavailable):
        return FAILURE, str(error)
    if isinstance(error, WorkflowError | UserError):
        return USER_ERROR, str(error)
    if isinstance(error, typer.Abort):
        return FAILURE, "aborted"
    if isinstance(error, typer.TyperException):
        return error.exit_code, error.format_message()
    if isinstance(error, pydantic.ValidationError):
        return USER_ERROR, _setting_problem(error)
    if isinstance(error, DBAPIError):
        return FAILURE, f"the database failed: {error.orig or error}"
    if isinstance(error, OSError):
        return FAILURE, str(error)
    return FAILURE, f"unexpected failure: {type(error).__name__}: {error}"


def _setting_problem(error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    name = "INKPOST_" + "_".join(str(part) for part in first["loc"]).upper()
    return f"setting {name} is invalid: {first['msg']}"


app = typer.Typer(
    cls=InkpostGroup,
    name="inkpost",
    help="Inkpost: a messaging-first client document portal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    *,
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            metavar="SLUG",
            help="The organisation to act on (default: INKPOST_ORG, or the only one).",
            show_default=False,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where the SQLite database and files live (default: INKPOST_DATA_DIR or "
            "./inkpost-data).",
            show_default=False,
        ),
    ] = None,
    staff: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="STAFF",
            help="The staff member you act as (id, name or email; default: INKPOST_STAFF). "
            "The history names them; without one it names your login on this machine.",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of unexpected failures.")
    ] = False,
) -> None:
    """Inkpost: a messaging-first client document portal."""
    settings = Settings()
    explicit_url = "public_url" in settings.model_fields_set
    overrides: dict[str, Any] = {}
    if org:
        overrides["org"] = org
    if staff:
        overrides["staff"] = staff
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = listening_on(
        settings.model_copy(update=overrides), host=None, port=None, explicit_url=explicit_url
    )
    # --debug takes effect in InkpostGroup.main, which also sees failures before this runs.
    ctx.obj = CliState(settings=settings, explicit_public_url=explicit_url)


# Setup and serving --------------------------------------------------------------------

db_app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the data directory, bring the database up to date, check the blob store and
    create the self-signed seal unless one is configured (an existing seal is kept)."""
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


def describe_seal(setup: seal.SealSetup) -> str:
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


def listening_on(
    settings: Settings, *, host: str | None, port: int | None, explicit_url: bool
) -> Settings:
    """Settings with --host/--port applied. Unless INKPOST_PUBLIC_URL is set, the public
    URL (which links printed by any command use) follows the address served on."""
    updates: dict[str, Any] = {}
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    served = settings.model_copy(update=updates)
    if not explicit_url:
        shown = "127.0.0.1" if served.host in ("0.0.0.0", "::", "") else served.host
        if ":" in shown:
            shown = f"[{shown}]"
        served = served.model_copy(update={"public_url": f"http://{shown}:{served.port}"})
    return served


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


@app.command()
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

    with_runtime(ctx, work, schema="upgrade", settings=settings)


@app.command()
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

    with_runtime(ctx, work, schema="upgrade", settings=settings)


# The command tree ---------------------------------------------------------------------

app.add_typer(db_app, name="db")
app.add_typer(organizations.org_app, name="org")
app.add_typer(people.staff_app, name="staff")
app.add_typer(people.client_app, name="client")
people.recipient_app.command("invite")(chat.invite)
app.add_typer(people.recipient_app, name="recipient")
app.add_typer(chat.outbox_app, name="outbox")
app.add_typer(spaces.group_app, name="group")
app.add_typer(spaces.space_app, name="space")
app.command()(documents.upload)
app.add_typer(documents.documents_app, name="documents")
app.command()(sharing.share)
app.command()(sharing.link)
app.command()(sharing.revoke)
app.add_typer(signing.sign_request_app, name="sign-request")
app.add_typer(reminders.reminders_app, name="reminders")
app.command()(audit.history)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(slack.slack_app, name="slack")
app.command()(doctor.doctor)


def main() -> None:
    """The console-script entry point."""
    app(prog_name="inkpost")
