"""The `inkpost` command: the root that setup, serving and admin commands hang from.

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

Every command and command group lives in its own module, listed in ``COMMANDS``; a module
is imported only when its command runs (or its own help is asked for), so a command pays
only for the libraries it uses and ``inkpost --help`` imports none of them.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.exceptions import NoArgsIsHelpError
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from inkpost.errors import UserError

if TYPE_CHECKING:
    import pydantic
    from typer._click import Command, Context, HelpFormatter

    from inkpost.settings import Settings

USER_ERROR = 2
FAILURE = 1


@dataclass(frozen=True)
class Lazy:
    """A command (a function) or a command group (a ``typer.Typer``) named ``attribute`` in
    ``module``, imported when it is first needed; ``summary`` is its line in ``inkpost
    --help``: the first paragraph of its help, on one line."""

    module: str
    attribute: str
    summary: str


# Every command and command group of `inkpost`, in the order `inkpost --help` lists them.
# A new one is a line here; a test holds each summary to the first paragraph of its help.
COMMANDS: dict[str, Lazy] = {
    "init": Lazy(
        "inkpost.cli.setup",
        "init",
        "Create the data directory, bring the database up to date, check the blob store and "
        "create the self-signed seal unless one is configured (an existing seal is kept).",
    ),
    "serve": Lazy(
        "inkpost.cli.setup",
        "serve",
        "Serve the web app until SIGTERM or Ctrl-C (migrating the database first if needed).",
    ),
    "demo": Lazy(
        "inkpost.cli.setup",
        "demo",
        "Set up a demo organisation with a shared fee table, print its link and serve it.",
    ),
    "upload": Lazy(
        "inkpost.cli.documents",
        "upload",
        "Upload files onto the durable medium, each as a document.",
    ),
    "share": Lazy(
        "inkpost.cli.sharing",
        "share",
        "Share a document with a recipient, a group or a space (exactly one of them). A "
        "document goes only to its own client's people unless --across-clients says so.",
    ),
    "link": Lazy(
        "inkpost.cli.sharing", "link", "Create a public link to a document and print its URL."
    ),
    "revoke": Lazy(
        "inkpost.cli.sharing", "revoke", "Revoke a share or a link: it opens nothing from now on."
    ),
    "history": Lazy(
        "inkpost.cli.history", "history", "The timeline of a document and its other versions."
    ),
    "doctor": Lazy(
        "inkpost.cli.doctor",
        "doctor",
        "Check the database, blob store, mail, Telegram, Slack, seal and timestamp authority: "
        "one line each, saying what is wrong and how to fix it. Exits 1 when a configured "
        "part fails; creates nothing.",
    ),
    "db": Lazy("inkpost.cli.setup", "db_app", "The database schema."),
    "org": Lazy("inkpost.cli.organizations", "org_app", "Organisations (tenants)."),
    "staff": Lazy("inkpost.cli.people", "staff_app", "Staff members of the organisation."),
    "client": Lazy(
        "inkpost.cli.people", "client_app", "Clients: the customer files documents belong to."
    ),
    "recipient": Lazy("inkpost.cli.people", "recipient_app", "Recipients: people at a client."),
    "outbox": Lazy(
        "inkpost.cli.chat", "outbox_app", "The outbox: notifications waiting, sent or given up."
    ),
    "group": Lazy("inkpost.cli.spaces", "group_app", "Groups of recipients for bulk sharing."),
    "space": Lazy(
        "inkpost.cli.spaces", "space_app", "Spaces: client panels whose members share documents."
    ),
    "documents": Lazy("inkpost.cli.documents", "documents_app", "Documents of the organisation."),
    "sign-request": Lazy(
        "inkpost.cli.signing",
        "sign_request_app",
        "Signature requests: documents to be signed or approved by parties.",
    ),
    "reminders": Lazy(
        "inkpost.cli.reminders",
        "reminders_app",
        "Reminders and expiries: the scans `inkpost serve` runs every minute.",
    ),
    "audit": Lazy("inkpost.cli.audit", "audit_app", "The hash-chained audit trail."),
    "webhooks": Lazy(
        "inkpost.cli.webhooks",
        "webhooks_app",
        "Webhooks: your own systems called, signed, when documents and requests move on.",
    ),
    "slack": Lazy("inkpost.cli.slack", "slack_app", "The Slack app for staff."),
    "api-key": Lazy(
        "inkpost.cli.api_keys",
        "api_key_app",
        "Keys of the integration API (/api/v1) for other systems.",
    ),
}


def load_command(name: str, lazy: Lazy) -> Command:
    """The click command for ``lazy``, built as ``app.command()`` or ``app.add_typer`` would
    have built it, with its help tidied."""
    target = getattr(importlib.import_module(lazy.module), lazy.attribute)
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    command = typer.main.get_group(holder).commands[name]
    tidy_help(command)
    return command


class LazyCommands(MutableMapping[str, "Command"]):
    """The root's subcommands: every name in ``table`` is listed, and its module imported
    when the command itself is looked up."""

    def __init__(self, table: Mapping[str, Lazy], loaded: Mapping[str, Command]) -> None:
        self.table = table
        self.loaded = dict(loaded)
        self.sparing = False
        """Whether loading a command spares the collector (`collector_spared`): only
        while a command runs that the process ends with."""

    def __getitem__(self, name: str) -> Command:
        if name not in self.loaded:
            with self.collector_spared():
                self.loaded[name] = load_command(name, self.table[name])
        return self.loaded[name]

    @contextlib.contextmanager
    def collector_spared(self) -> Iterator[None]:
        """No cyclic garbage collection while a command's modules are imported, and what
        they loaded kept out of its sight for the rest of the process (``sparing`` on).

        Importing allocates over a hundred thousand objects that live as long as the
        process (classes, functions, tables, mappers); the collector would walk them as
        they arrive, in every later full collection and once more at exit: a fifth of a
        short command's time. Frozen (``gc.freeze``) instead, they are never walked; the
        few hundred cyclic leftovers of importing stay allocated until the process ends.
        A process that manages the collector itself (it is off, or something is frozen
        already) is left as it is, and so is one that goes on after the command."""
        if not self.sparing or not gc.isenabled() or gc.get_freeze_count():
            yield
            return
        gc.disable()
        try:
            yield
        finally:
            gc.freeze()
            gc.enable()

    def __setitem__(self, name: str, command: Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self.table, *self.loaded]))

    def __len__(self) -> int:
        return len(self.table.keys() | self.loaded.keys())

    def __contains__(self, name: object) -> bool:
        return name in self.table or name in self.loaded

    def command(self, name: str) -> Command | None:
        """The command ``name``, its module imported now if need be; None if there is none
        (a failure while importing it is not mistaken for a missing command)."""
        if name not in self:
            return None
        return self[name]

    def summary(self, name: str) -> Command | None:
        """What ``inkpost --help`` lists for ``name``, without importing its module."""
        if name in self.table:
            return TyperCommand(name=name, help=self.table[name].summary)
        return self.loaded.get(name)


class InkpostGroup(TyperGroup):
    """The root command: runs the CLI and maps every failure to one line and a code; its
    subcommands are loaded from ``COMMANDS`` as they are needed."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.lazy = LazyCommands(COMMANDS, self.commands)
        self.commands = self.lazy
        self.summarising = False

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.lazy)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if self.summarising:
            return self.lazy.summary(cmd_name)
        return self.lazy.command(cmd_name)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The root's help lists each command by its summary, importing none of them."""
        self.summarising = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.summarising = False

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        *,
        process_ends: bool = False,
        **extra: Any,
    ) -> Any:
        """Run the command. ``process_ends``: the process ends with it (the console script),
        so what its modules load is kept from the collector (``LazyCommands.
        collector_spared``); a process that goes on (tests, an embedding program) keeps
        its collector as it was."""
        argv = list(sys.argv[1:] if args is None else args)
        tidy_command(self)
        self.lazy.sparing = process_ends
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except Exception as error:
            code = report_failure(error, debug=debug_requested(argv))
        finally:
            self.lazy.sparing = False
        if standalone_mode:
            sys.exit(code)
        return code


def tidy_help(command: Any) -> None:
    """``tidy_command`` for a command and every subcommand under it."""
    tidy_command(command)
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)


def tidy_command(command: Any) -> None:
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
    from inkpost.cli.context import first_line

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
    import pydantic
    from sqlalchemy.exc import DBAPIError

    from workflows.errors import Unavailable, WorkflowError

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
    from inkpost.cli.context import CliState
    from inkpost.settings import Settings

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


def main() -> None:
    """The console-script entry point."""
    app(prog_name="inkpost", process_ends=True)
