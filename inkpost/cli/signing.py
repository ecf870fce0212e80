"""`inkpost sign-request`: create, list, show and cancel signature requests, and hand out a
fresh link to a party's signing page."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from inkpost.cli.context import (
    DATE_HELP,
    JsonOption,
    OrgScope,
    When,
    in_org,
    named,
    settings_of,
    when_option,
)
from inkpost.cli.output import Column, emit_json, say, show_record, show_rows, warn
from inkpost.errors import UserError
from storage.models import Document, Party, PartyDecision, SignatureRequest
from storage.rows import id_of
from workflows.documents import filing
from workflows.errors import InvalidInput, NotFound, WorkflowError
from workflows.sharing.targets import AcrossClients
from workflows.signing import creation, forms, party_reminders, requests
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.requests import RequestState

sign_request_app = typer.Typer(
    help="Signature requests: documents to be signed or approved by parties.",
    no_args_is_help=True,
)

PARTY_ORDER = "inkpost.party_order"
ROLE_OPTIONS = {"signer": "--signer", "approver": "--approver", "viewer": "--viewer"}
MAX_DAYS = 3650
PARTY_HELP = (
    "a recipient (id, name or email) or a person outside the system: 'Name <email>', "
    "'Name, +46701234567' or 'Name, @telegram' (repeatable)"
)


class PartyOrderCommand(TyperCommand):
    """Remembers the order in which --signer, --approver and --viewer were given, which
    separate list options lose, because a sequential request goes party by party."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _, _, order = self.make_parser(ctx).parse_args(args=list(args))
        ctx.meta[PARTY_ORDER] = [p.name for p in order if p.name in ROLE_OPTIONS]
        result: list[str] = super().parse_args(ctx, args)
        return result


Ref = Annotated[str, typer.Argument(metavar="REQUEST", help="A request reference like S-4.")]


ROLE_HELP = {
    "signer": "Someone who signs",
    "approver": "Someone who approves",
    "viewer": "Someone who gets the documents and the result but decides nothing",
}


def _party_option(role: str) -> Any:
    return typer.Option(
        ROLE_OPTIONS[role],
        metavar="PARTY",
        help=f"{ROLE_HELP[role]}: {PARTY_HELP}.",
        show_default=False,
    )


async def party_of(scope: OrgScope, role: str, text: str, language: str | None) -> NewParty:
    """A recipient by id, name or email, or a person outside the system by name and contact
    (written in ``language``)."""
    value = text.strip()
    if "," not in value and "<" not in value:
        try:
            recipient_id = await named(scope, "recipient", value)
        except NotFound as error:
            if value.isdigit():
                raise UserError(f"{ROLE_OPTIONS[role]} '{value}': {error}") from error
            raise UserError(
                f"{ROLE_OPTIONS[role]} '{value}': {error}; for someone outside the system "
                f"give a contact: {forms.FORMATS}"
            ) from error
        except WorkflowError as error:
            raise UserError(f"{ROLE_OPTIONS[role]} '{value}': {error}") from error
        return NewParty(role=role, recipient_id=recipient_id)
    try:
        party = forms.parse_contact(value, role=role)
    except InvalidInput as error:
        raise UserError(f"{ROLE_OPTIONS[role]} '{value}': {error}") from error
    return replace(party, language=language)


def parties_in_order(ctx: typer.Context, given: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The parties (role, text) as they were typed, whatever their roles."""
    remaining = {role: list(values) for role, values in given.items()}
    order = ctx.meta.get(PARTY_ORDER) or [r for r, vs in given.items() for _ in vs]
    return [(role, remaining[role].pop(0)) for role in order]


def expiry(expires: When | None, days: int | None, scope: OrgScope) -> datetime | None:
    if expires is not None and days is not None:
        raise UserError("give --expires or --days, not both")
    if days is not None:
        return scope.env.clock.now() + timedelta(days=days)
    return expires.ending(scope.org.timezone) if expires is not None else None


def party_url(ctx: typer.Context, token: str) -> str:
    return f"{settings_of(ctx).public_url.rstrip('/')}/s/{token}"


def contact_of(party: Party) -> str:
    if party.recipient_id is not None:
        return f"recipient {party.recipient_id}"
    shown = [
        party.email,
        party.phone,
        f"@{party.telegram_username}" if party.telegram_username else None,
    ]
    return ", ".join(c for c in shown if c)


@sign_request_app.command("create", cls=PartyOrderCommand)
def create(
    ctx: typer.Context,
    *,
    doc: Annotated[
        list[str],
        typer.Option(
            "--doc", metavar="DOC", help="A PDF to sign, like D-3 (repeatable).", show_default=False
        ),
    ],
    signer: Annotated[list[str] | None, _party_option("signer")] = None,
    approver: Annotated[list[str] | None, _party_option("approver")] = None,
    viewer: Annotated[list[str] | None, _party_option("viewer")] = None,
    order: Annotated[
        str,
        typer.Option(
            metavar="ORDER",
            help="parallel: everyone at once; sequential: one party after another, in the "
            "order the parties are given.",
        ),
    ] = "parallel",
    expires: Annotated[
        When | None, when_option("--expires", f"When the request expires: {DATE_HELP}.")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=1,
            max=MAX_DAYS,
            help="Expire after N days instead.",
            show_default=False,
        ),
    ] = None,
    message: Annotated[
        str | None, typer.Option(help="A note shown to the parties.", show_default=False)
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="en, pl, ru or sv (default: the organisation's); people outside the system "
            "are written to in it, recipients in their own.",
            show_default=False,
        ),
    ] = None,
    title: Annotated[
        str | None,
        typer.Option(help="Title (default: the first document's).", show_default=False),
    ] = None,
    across_clients: Annotated[
        bool,
        typer.Option(
            "--across-clients",
            help="Send on purpose to recipients of another client than the documents' "
            "(recorded in their history).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Send documents for signature and print each party's link to pass on.

    Parties are a recipient (id, name or email) or a person outside the system, written
    'Name <email>', 'Name, +46701234567' or 'Name, @telegram' (several contacts may follow
    the name, separated by commas). In a sequential request they decide in the order
    given, e.g. --approver 'Jane Client' --signer 'Anna Berg <anna@firm.test>' asks Jane
    first.
    """
    typed = parties_in_order(
        ctx, {"signer": signer or [], "approver": approver or [], "viewer": viewer or []}
    )

    async def work(scope: OrgScope) -> creation.CreatedRequest:
        found = [await filing.find_document(scope.env, org_id=scope.org_id, ref=r) for r in doc]
        parties = [await party_of(scope, role, text, language) for role, text in typed]
        new = NewRequest(
            document_ids=[id_of(d) for d in found],
            parties=parties,
            order=order.strip().lower(),
            expires_at=expiry(expires, days, scope),
            message=message,
            language=language,
            title=title,
            across_clients=across_clients,
        )
        try:
            return await creation.create_request(
                scope.env, org_id=scope.org_id, actor=scope.actor, staff_id=None, new=new
            )
        except AcrossClients as e:
            raise AcrossClients(f"{e}; add --across-clients to send it anyway") from e

    created = in_org(ctx, work)
    request = created.request
    rows = [
        {**party_row(link.party, None), "url": party_url(ctx, link.token)}
        for link in created.parties
    ]
    for why in created.unconfirmable:
        warn(why)
    if as_json:
        emit_json(
            {
                **request_row(request),
                "documents": doc_rows(created.documents),
                "parties": rows,
                "unconfirmable": created.unconfirmable,
            }
        )
        return
    ends = f"expires {request.expires_at:%Y-%m-%d %H:%M} UTC" if request.expires_at else "no expiry"
    refs = ", ".join(d.ref for d in created.documents)
    say(f"Created {request.ref} “{request.title}” ({refs}; {request.signing_order}; {ends}).")
    say("Each party's link (give it only to that party):")
    for row in rows:
        when = "invited" if row["invited_at"] else "invited when their turn comes"
        say(f"  {row['position']}. {row['role']} {row['name']} ({row['contact']}; {when})")
        say(f"     {row['url']}")


def request_row(request: SignatureRequest) -> dict[str, Any]:
    return {
        "ref": request.ref,
        "title": request.title,
        "status": request.status,
        "order": request.signing_order,
        "language": request.language,
        "message": request.message,
        "created_at": request.created_at,
        "expires_at": request.expires_at,
        "status_changed_at": request.status_changed_at,
        "last_error": request.last_error,
    }


def doc_rows(found: list[Document]) -> list[dict[str, Any]]:
    return [{"ref": d.ref, "title": d.title, "sha256": d.sha256} for d in found]


def party_row(party: Party, decision: PartyDecision | None) -> dict[str, Any]:
    on_behalf = decision is not None and (
        decision.decided_by_name != party.name
        or (
            decision.decided_by_recipient_id is not None
            and decision.decided_by_recipient_id != party.recipient_id
        )
    )
    return {
        "position": party.position,
        "role": party.role,
        "name": party.name,
        "recipient_id": party.recipient_id,
        "email": party.email,
        "phone": party.phone,
        "telegram_username": party.telegram_username,
        "language": party.language,
        "contact": contact_of(party),
        "invited_at": party.invited_at,
        "decision": decision.decision if decision else None,
        "decided_at": decision.decided_at if decision else None,
        "auth_level": decision.auth_level if decision else None,
        "decided_by": decision.decided_by_name if decision else None,
        "on_behalf": on_behalf,
        "reason": decision.reason if decision else None,
        "ip": decision.ip if decision else None,
    }


LIST_COLUMNS = (
    Column("ref", "Request"),
    Column("title", "Title"),
    Column("status", "Status"),
    Column("order", "Order"),
    Column("created_at", "Created"),
    Column("expires_at", "Expires"),
)
PARTY_COLUMNS = (
    Column("position", "#", "right"),
    Column("role", "Role"),
    Column("name", "Name"),
    Column("contact", "Contact"),
    Column("invited_at", "Invited"),
    Column("decision", "Decision"),
    Column("decided_at", "Decided"),
    Column("auth_level", "Checked by"),
    Column("signed_by", "Decided by"),
    Column("reason", "Reason"),
)


@sign_request_app.command("list")
def list_requests(
    ctx: typer.Context,
    *,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only requests in this status: pending, sealing, completed, declined, "
            "expired or cancelled.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The organisation's signature requests, newest first."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        wanted = status.strip().lower() if status is not None else None
        found = await requests.list_requests(scope.env, org_id=scope.org_id, status=wanted)
        return [request_row(r) for r in found]

    title = f"{status.strip().capitalize()} signature requests" if status else "Signature requests"
    show_rows(in_org(ctx, work), columns=LIST_COLUMNS, title=title, as_json=as_json)


@sign_request_app.command("show")
def show(ctx: typer.Context, ref: Ref, *, as_json: JsonOption = False) -> None:
    """A request: its documents, parties, their decisions and its status."""

    async def work(scope: OrgScope) -> RequestState:
        return await requests.request_state(scope.env, org_id=scope.org_id, ref=ref)

    state = in_org(ctx, work)
    parties = [party_row(p, state.decision_of(p)) for p in state.parties]
    record = {**request_row(state.request), "documents": doc_rows(state.documents)}
    if as_json:
        emit_json({**record, "parties": parties})
        return
    shown = {**record, "documents": [f"{d['ref']} {d['title']}" for d in record["documents"]]}
    show_record(shown, title=f"{state.request.ref} “{state.request.title}”", as_json=False)
    for row in parties:
        by = row["decided_by"]
        row["signed_by"] = f"{by} on behalf" if row["on_behalf"] else by
    show_rows(parties, columns=PARTY_COLUMNS, title="Parties", as_json=False)


@sign_request_app.command("cancel")
def cancel(
    ctx: typer.Context,
    ref: Ref,
    *,
    reason: Annotated[
        str | None, typer.Option(help="Told to the parties.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Call off a pending request; the parties and staff are told."""

    async def work(scope: OrgScope) -> SignatureRequest:
        return await requests.cancel_request(
            scope.env, org_id=scope.org_id, actor=scope.actor, ref=ref, reason=reason
        )

    request = in_org(ctx, work)
    if as_json:
        emit_json(request_row(request))
        return
    say(f"Cancelled {request.ref} “{request.title}”; its parties and staff will be told.")


@sign_request_app.command("link")
def link(
    ctx: typer.Context,
    ref: Ref,
    *,
    party: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=1,
            help="The party's number (see `sign-request show`).",
            show_default=False,
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """A fresh link to a party's signing page, to pass on by any medium."""

    async def work(scope: OrgScope) -> requests.PartyLinkResult:
        return await requests.staff_link(
            scope.env, org_id=scope.org_id, actor=scope.actor, ref=ref, position=party
        )

    result = in_org(ctx, work)
    url = party_url(ctx, result.token)
    if as_json:
        number = requests.parse_request_ref(ref)
        emit_json({"request": f"S-{number}", **party_row(result.party, None), "url": url})
        return
    who = result.party
    say(f"Link for party {who.position}, {who.role} {who.name} ({contact_of(who)}):")
    say(url)


@sign_request_app.command("remind")
def remind(
    ctx: typer.Context,
    ref: Ref,
    *,
    party: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=1,
            help="Only this party (see `sign-request show`); default: everyone still to decide.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Remind parties who have not decided yet, now (at most once an hour per party; in
    quiet hours the reminder waits for the morning)."""

    async def work(scope: OrgScope) -> list[party_reminders.Reminded]:
        return await party_reminders.remind_now(
            scope.env, org_id=scope.org_id, actor=scope.actor, ref=ref, position=party
        )

    reminded = in_org(ctx, work)
    rows = [
        {"position": r.party.position, "name": r.party.name, "send_at": r.send_at} for r in reminded
    ]
    if as_json:
        number = requests.parse_request_ref(ref)
        emit_json({"request": f"S-{number}", "reminded": rows})
        return
    for row in rows:
        say(
            f"Reminder queued for party {row['position']}, {row['name']} "
            f"(goes out {row['send_at']:%Y-%m-%d %H:%M} UTC)."
        )
