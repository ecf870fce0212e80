"""What every CLI command shares: the settings read once, the organisation it acts on,
one event loop per command, and the parsers of option values."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import typer
from sqlalchemy.engine import make_url

from inkpost.runtime import Runtime, open_runtime
from inkpost.settings import Settings
from storage import migrate
from storage.models import Organization
from workflows import organizations
from workflows.context import Actor, Env
from workflows.errors import InvalidInput, NotFound

T = TypeVar("T")
CLI_ACTOR = Actor.system("cli")


class UserError(Exception):
    """Something the person at the terminal got wrong that no workflow saw: a missing
    file, a bad date, options that do not go together. Shown as one line, exit 2."""


@dataclass(frozen=True)
class CliState:
    """The root context's object: settings (with global options applied)."""

    settings: Settings
    explicit_public_url: bool = False


@dataclass(frozen=True)
class OrgScope:
    """A running store plus the organisation a command acts on."""

    runtime: Runtime
    org: Organization
    actor: Actor = CLI_ACTOR

    @property
    def env(self) -> Env:
        return self.runtime.env

    @property
    def org_id(self) -> int:
        assert self.org.id is not None
        return self.org.id


DocRef = Annotated[str, typer.Argument(metavar="DOC", help="A document reference like D-12.")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout (and nothing else) for scripts.")
]


def cli_state(ctx: typer.Context) -> CliState:
    state = ctx.find_root().obj
    assert isinstance(state, CliState), "the root callback did not run"
    return state


def settings_of(ctx: typer.Context) -> Settings:
    return cli_state(ctx).settings


Schema = Literal["current", "upgrade", "as is"]


def with_runtime(
    ctx: typer.Context,
    work: Callable[[Runtime], Awaitable[T]],
    *,
    schema: Schema = "current",
    settings: Settings | None = None,
) -> T:
    """Open the store, run ``work`` in a fresh event loop, close everything.

    ``schema``: "current" refuses a database whose schema is behind (with a hint) rather
    than migrating it as a side effect of an ordinary command; "upgrade" migrates first;
    "as is" leaves it to ``work``.
    """
    settings = settings or settings_of(ctx)

    async def main() -> T:
        async with open_runtime(settings, upgrade=schema == "upgrade") as runtime:
            if schema == "current" and await migrate.needs_upgrade(runtime.engine):
                raise UserError(
                    f"the database at {describe_database(settings)} is not up to date: "
                    "run `inkpost init` (or `inkpost db upgrade`)"
                )
            return await work(runtime)

    return asyncio.run(main())


def in_org(ctx: typer.Context, work: Callable[[OrgScope], Awaitable[T]]) -> T:
    """Run ``work`` for the selected organisation (``--org``, INKPOST_ORG, or the only one)."""
    slug = settings_of(ctx).org

    async def scoped(runtime: Runtime) -> T:
        org = await the_organization(runtime, slug)
        return await work(OrgScope(runtime=runtime, org=org))

    return with_runtime(ctx, scoped)


async def the_organization(runtime: Runtime, slug: str | None) -> Organization:
    """The organisation named by ``slug``, or the only one; the refusal says which option
    or command helps."""
    try:
        return await organizations.get_organization(runtime.env, slug=slug)
    except NotFound as e:
        if slug:
            raise
        raise UserError(f"{e}: run `inkpost org create`") from e
    except InvalidInput as e:
        raise UserError(f"{e} with --org") from e


def describe_database(settings: Settings) -> str:
    """The database URL without its password."""
    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def describe_blobs(settings: Settings) -> str:
    """Where document bytes are kept, without credentials."""
    url = settings.blob_url
    if not url:
        return f"file store at {(settings.data_dir / 'blobs').resolve()}"
    scheme, _, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}://{rest}"


def parse_when(value: str) -> datetime:
    """An ISO 8601 date or date-time, in UTC; no zone means UTC, a date means 00:00 UTC."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"'{value}' is not an ISO 8601 date or date-time (like 2027-01-31 or "
            "2027-01-31T17:00+01:00)"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def when_option(flag: str, help: str) -> Any:
    """An ISO 8601 date or date-time option; naive values are UTC."""
    return typer.Option(flag, parser=parse_when, metavar="ISO", help=help, show_default=False)


NEVER = "never"


def parse_when_or_never(value: str) -> datetime | str:
    """Like ``parse_when``, but ``never`` stands for 'no expiry'."""
    if value.strip().lower() == NEVER:
        return NEVER
    return parse_when(value)


def first_line(text: Any) -> str:
    """An error message squeezed onto one line."""
    return " ".join(str(text).split()) or "(no message)"


async def client_id(scope: OrgScope, value: str) -> int:
    """A client named by id (``3``) or by its name, case-insensitively."""
    text = value.strip()
    if text.isdigit():
        return int(text)
    clients = await organizations.list_clients(scope.env, org_id=scope.org_id)
    for client in clients:
        if client.name.lower() == text.lower():
            assert client.id is not None
            return client.id
    known = ", ".join(f"{c.id} {c.name}" for c in clients[:10]) or "none yet"
    raise UserError(f"no client is called '{value}' (clients: {known})")
