"""What every CLI command shares: the settings read once, the organisation it acts on,
one event loop per command, and the parsers of option values."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.engine import make_url

from inkpost.errors import UserError
from inkpost.runtime import Runtime, open_runtime
from inkpost.settings import Settings
from storage import migrate
from storage.errors import store_unreachable
from storage.models import Organization
from storage.rows import id_of
from storage.walls import Wall
from workflows import lookup
from workflows.context import Actor, Env
from workflows.errors import InvalidInput, NotAllowed, NotFound, Unavailable
from workflows.people import client_access, organizations

T = TypeVar("T")


@dataclass(frozen=True)
class CliState:
    """The root context's object: settings (with global options applied)."""

    settings: Settings
    explicit_public_url: bool = False


@dataclass(frozen=True)
class OrgScope:
    """A running store plus the organisation a command acts on, and who acts: the
    environment is behind their wall when they have one."""

    runtime: Runtime
    org: Organization
    actor: Actor
    wall: Wall | None = None

    @property
    def env(self) -> Env:
        return self.runtime.env.walled(self.wall)

    @property
    def org_id(self) -> int:
        return id_of(self.org)


def named_argument(kind: lookup.Kind, metavar: str, *, many: bool = False) -> Any:
    """A positional argument naming a ``kind`` by id or name (resolve it with ``named``)."""
    by = "id, name or email" if kind in ("recipient", "staff member") else "id or name"
    what = f"{kind}s" if many else f"the {kind}"
    return typer.Argument(metavar=metavar, help=f"{what.capitalize()}: {by}.", show_default=False)


def named_option(flag: str, kind: lookup.Kind, help: str) -> Any:
    """An option naming a ``kind`` by id or name."""
    also = ", name or email" if kind in ("recipient", "staff member") else " or name"
    return typer.Option(
        flag, metavar=kind.split()[0].upper(), help=f"{help} (id{also}).", show_default=False
    )


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
    serving: bool = False,
) -> T:
    """Open the store, run ``work`` in a fresh event loop, close everything.

    ``schema``: "current" refuses a database whose schema is behind (with a hint) rather
    than migrating it as a side effect of an ordinary command; "upgrade" migrates first;
    "as is" leaves it to ``work``. A database that cannot be reached is told in one line,
    as `inkpost doctor` tells it. ``serving``: run on the loop servers use
    (`inkpost.event_loop`); other commands keep asyncio's own and never import uvloop.
    """
    settings = settings or settings_of(ctx)
    if schema == "current":
        refuse_missing_store(settings)

    async def main() -> T:
        async with contextlib.AsyncExitStack() as opened:
            try:
                upgrade = schema == "upgrade"
                runtime = await opened.enter_async_context(open_runtime(settings, upgrade=upgrade))
                if schema == "current":
                    current = await migrate.is_current(runtime.engine)
                else:  # connected now, a database out of reach is told as such below
                    async with runtime.engine.connect():
                        current = True
            except Exception as error:
                if not store_unreachable(error):
                    raise
                from inkpost.doctor.store import cannot_connect  # loads minio: only now

                url = make_url(settings.effective_database_url)
                raise Unavailable(cannot_connect(url, error)) from error
            if not current:
                raise UserError(
                    f"the database at {describe_database(settings)} is not up to date: "
                    "run `inkpost init` (or `inkpost db upgrade`)"
                )
            return await work(runtime)

    if serving:
        from inkpost import event_loop

        return event_loop.run(main())
    return asyncio.run(main())


def refuse_missing_store(settings: Settings) -> None:
    """An ordinary command before ``init`` says what to run and creates nothing."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    if not Path(url.database).exists():
        raise UserError(
            f"there is no Inkpost database at {url.database} yet: run `inkpost init` first "
            "(or `inkpost demo` to try Inkpost out), or point --data-dir at an existing one"
        )


def in_org(ctx: typer.Context, work: Callable[[OrgScope], Awaitable[T]]) -> T:
    """Run ``work`` for the selected organisation (``--org``, INKPOST_ORG, or the only one),
    acting as the staff member named by ``--as``/INKPOST_STAFF or else as the operator."""
    settings = settings_of(ctx)

    async def scoped(runtime: Runtime) -> T:
        org = await the_organization(runtime, settings.org)
        actor, wall = await acting_as(runtime, org, settings.staff)
        return await work(OrgScope(runtime=runtime, org=org, actor=actor, wall=wall))

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
        orgs = await organizations.list_organizations(runtime.env)
        listed = ", ".join(f"{o.slug} ({o.name})" for o in orgs)
        raise UserError(f"{e} with --org or INKPOST_ORG: {listed}") from e


def operator() -> Actor:
    """Whoever runs the CLI on this machine, when no staff member is named."""
    return Actor.system(f"operator {_login()} (CLI)")


async def acting_as(
    runtime: Runtime, org: Organization, staff: str | None
) -> tuple[Actor, Wall | None]:
    """The staff member a command acts as, with the wall they work behind; without one,
    the operator's login at the server, who sees every client.

    A blocked or unknown staff member is refused before anything happens."""
    if not staff:
        return operator(), None
    org_id = id_of(org)
    try:
        staff_id = await lookup.resolve(
            runtime.env, org_id=org_id, kind="staff member", value=staff
        )
        access = await client_access.client_access(runtime.env, org_id=org_id, staff_id=staff_id)
    except (NotFound, InvalidInput) as e:
        raise UserError(f"--as {staff}: {e}") from e
    member = access.staff
    if member.status != "active":
        raise NotAllowed(f"staff member {member.name} is blocked and cannot act")
    return Actor.staff(id_of(member), label=member.name), access.wall


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "unknown"


async def named(scope: OrgScope, kind: lookup.Kind, value: str) -> int:
    """The id of the ``kind`` that ``value`` names (an id, or a name; people also by email)."""
    return await lookup.resolve(scope.env, org_id=scope.org_id, kind=kind, value=value)


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


@dataclass(frozen=True)
class When:
    """A moment as typed: a date (a whole day) or a date-time, with or without a zone.

    A date stands for the end of that day (``ending``) or its start (``starting``); a
    date or date-time without a zone is in the organisation's time zone."""

    value: date | datetime
    text: str

    def ending(self, zone: str) -> datetime:
        return self._at(zone, time(23, 59, 59))

    def starting(self, zone: str) -> datetime:
        return self._at(zone, time.min)

    def _at(self, zone: str, day_time: time) -> datetime:
        tz = ZoneInfo(zone)
        if not isinstance(self.value, datetime):
            return datetime.combine(self.value, day_time, tz).astimezone(UTC)
        if self.value.tzinfo is None:
            return self.value.replace(tzinfo=tz).astimezone(UTC)
        return self.value.astimezone(UTC)


def parse_when(value: str) -> When:
    """An ISO 8601 date or date-time as typed (see ``When``)."""
    text = value.strip()
    try:
        if len(text) == 10:
            return When(date.fromisoformat(text), text)
        return When(datetime.fromisoformat(text), text)
    except ValueError:
        raise typer.BadParameter(
            f"'{value}' is not an ISO 8601 date or date-time (like 2027-01-31 or "
            "2027-01-31T17:00+01:00)"
        ) from None


DATE_HELP = (
    "a date (2027-01-31: the end of that day) or a date-time (2027-01-31T17:00), "
    "in the organisation's time zone unless it names one (+01:00)"
)


def when_option(flag: str, help: str) -> Any:
    """An ISO 8601 date or date-time option (see ``When``)."""
    return typer.Option(flag, parser=parse_when, metavar="DATE", help=help, show_default=False)


def ending(when: When | None, scope: OrgScope) -> datetime | None:
    """The moment ``when`` ends in the organisation's time zone (None stays None)."""
    return when.ending(scope.org.timezone) if when is not None else None


NEVER = "never"


def parse_when_or_never(value: str) -> When | str:
    """Like ``parse_when``, but ``never`` stands for 'no expiry'."""
    if value.strip().lower() == NEVER:
        return NEVER
    return parse_when(value)


def first_line(text: Any) -> str:
    """An error message squeezed onto one line."""
    return " ".join(str(text).split()) or "(no message)"


async def client_id(scope: OrgScope, value: str) -> int:
    """A client named by id (``3``) or by its name, case-insensitively."""
    return await named(scope, "client", value)


async def client_names(scope: OrgScope) -> dict[int, str]:
    """Every client's name by id, for rows that name a client."""
    clients = await organizations.list_clients(scope.env, org_id=scope.org_id)
    return {c.id: c.name for c in clients if c.id is not None}
