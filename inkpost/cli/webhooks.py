"""`inkpost webhooks`: the organisation's endpoints that are called, signed, when its
documents and signature requests move on; their deliveries, and retrying those given up."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from inkpost.cli.context import JsonOption, OrgScope, in_org, settings_of
from inkpost.cli.output import Column, emit_json, say, show_rows
from inkpost.errors import UserError
from inkpost.webhooks import address_policy
from workflows.webhooks import deliveries, endpoints
from workflows.webhooks.deliveries import DeliveryView
from workflows.webhooks.endpoints import EndpointView
from workflows.webhooks.events import EventType

webhooks_app = typer.Typer(
    help="Webhooks: your own systems called, signed, when documents and requests move on.",
    no_args_is_help=True,
)

ENDPOINT_COLUMNS = (
    Column("id", "Id", "right"),
    Column("url", "URL"),
    Column("events", "Events"),
    Column("enabled", "On"),
    Column("disabled_reason", "Why off"),
    Column("description", "Description"),
)
DELIVERY_COLUMNS = (
    Column("id", "Id", "right"),
    Column("endpoint_id", "Endpoint", "right"),
    Column("event_type", "Event"),
    Column("status", "Status"),
    Column("attempts", "Attempts", "right"),
    Column("next_attempt_at", "Next attempt"),
    Column("last_error", "Last error"),
    Column("message_id", "Webhook id"),
)
EndpointId = Annotated[int, typer.Argument(metavar="ID", help="The endpoint's id.")]


def _endpoint_row(view: EndpointView) -> dict[str, Any]:
    return {
        "id": view.id,
        "url": view.url,
        "events": list(view.events),
        "enabled": view.enabled,
        "disabled_reason": view.disabled_reason,
        "failing_since": view.failing_since,
        "description": view.description,
        "created_at": view.created_at,
    }


def _delivery_row(view: DeliveryView) -> dict[str, Any]:
    return {
        "id": view.id,
        "endpoint_id": view.endpoint_id,
        "event_type": view.event_type,
        "status": view.status,
        "attempts": view.attempts,
        "next_attempt_at": view.next_attempt_at if view.status == "pending" else None,
        "last_error": view.last_error,
        "message_id": view.message_id,
        "created_at": view.created_at,
        "sent_at": view.sent_at,
    }


@webhooks_app.command("add")
def webhooks_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help="Where events are posted.")],
    *,
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            metavar="TYPE",
            help="An event to send (repeat for more): " + ", ".join(EventType) + ".",
            show_default=False,
        ),
    ],
    description: Annotated[
        str | None, typer.Option(help="What the endpoint is, for people.", show_default=False)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register an endpoint and print its signing secret, shown this once.

    Receivers verify each request's webhook-signature with the secret, as Standard
    Webhooks prescribes (any of its libraries does it).
    """
    policy = address_policy(settings_of(ctx))

    async def work(scope: OrgScope) -> endpoints.NewEndpoint:
        return await endpoints.register_endpoint(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            url=url,
            events=event,
            policy=policy,
            description=description,
        )

    made = in_org(ctx, work)
    if as_json:
        emit_json({**_endpoint_row(made.endpoint), "secret": made.secret})
        return
    say(f"Endpoint {made.endpoint.id}: {made.endpoint.url}")
    say(f"Events: {', '.join(made.endpoint.events)}")
    say(f"Signing secret (shown only now, keep it with the receiver): {made.secret}")


@webhooks_app.command("list")
def webhooks_list(ctx: typer.Context, *, as_json: JsonOption = False) -> None:
    """List the organisation's endpoints (never their secrets)."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        views = await endpoints.list_endpoints(scope.env, org_id=scope.org_id)
        return [_endpoint_row(view) for view in views]

    show_rows(in_org(ctx, work), columns=ENDPOINT_COLUMNS, title="Endpoints", as_json=as_json)


@webhooks_app.command("remove")
def webhooks_remove(ctx: typer.Context, endpoint_id: EndpointId) -> None:
    """Remove an endpoint; deliveries it has not received are cancelled."""

    async def work(scope: OrgScope) -> int:
        return await endpoints.remove_endpoint(
            scope.env, org_id=scope.org_id, actor=scope.actor, endpoint_id=endpoint_id
        )

    cancelled = in_org(ctx, work)
    noun = "delivery" if cancelled == 1 else "deliveries"
    say(f"Endpoint {endpoint_id} removed; {cancelled} {noun} cancelled.")


@webhooks_app.command("enable")
def webhooks_enable(ctx: typer.Context, endpoint_id: EndpointId) -> None:
    """Turn an endpoint on again; what waited for it is sent now."""

    async def work(scope: OrgScope) -> EndpointView:
        return await endpoints.enable_endpoint(
            scope.env, org_id=scope.org_id, actor=scope.actor, endpoint_id=endpoint_id
        )

    in_org(ctx, work)
    say(f"Endpoint {endpoint_id} is on.")


@webhooks_app.command("disable")
def webhooks_disable(ctx: typer.Context, endpoint_id: EndpointId) -> None:
    """Turn an endpoint off: it gets no new events; what was queued waits for it."""

    async def work(scope: OrgScope) -> EndpointView:
        return await endpoints.disable_endpoint(
            scope.env, org_id=scope.org_id, actor=scope.actor, endpoint_id=endpoint_id
        )

    in_org(ctx, work)
    say(f"Endpoint {endpoint_id} is off.")


@webhooks_app.command("rotate-secret")
def webhooks_rotate_secret(
    ctx: typer.Context,
    endpoint_id: EndpointId,
    *,
    overlap_hours: Annotated[
        float,
        typer.Option(
            min=0,
            max=endpoints.MAX_ROTATION_OVERLAP.total_seconds() / 3600,
            help="How long the old secret goes on signing beside the new one (0: not at all).",
        ),
    ] = endpoints.ROTATION_OVERLAP.total_seconds() / 3600,
    as_json: JsonOption = False,
) -> None:
    """Give an endpoint a new signing secret, shown this once.

    Until the overlap ends every request carries a signature by each secret, so the
    receiver may switch to the new one at any moment in between.
    """

    async def work(scope: OrgScope) -> endpoints.NewEndpoint:
        return await endpoints.rotate_secret(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            endpoint_id=endpoint_id,
            overlap=timedelta(hours=overlap_hours),
        )

    made = in_org(ctx, work)
    if as_json:
        emit_json({**_endpoint_row(made.endpoint), "secret": made.secret})
        return
    say(f"New signing secret of endpoint {endpoint_id} (shown only now): {made.secret}")
    if overlap_hours:
        say(f"The old secret signs beside it for {overlap_hours:g} more hours.")
    else:
        say("The old secret no longer signs.")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    ctx: typer.Context,
    *,
    status: Annotated[
        str | None,
        typer.Option(
            help="pending, sending, sent, waiting, dead or cancelled.", show_default=False
        ),
    ] = None,
    endpoint: Annotated[
        int | None, typer.Option(metavar="ID", help="Only this endpoint's.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """List deliveries, newest first."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        views = await deliveries.list_deliveries(
            scope.env, org_id=scope.org_id, status=status, endpoint_id=endpoint, limit=limit
        )
        return [_delivery_row(view) for view in views]

    show_rows(in_org(ctx, work), columns=DELIVERY_COLUMNS, title="Deliveries", as_json=as_json)


@webhooks_app.command("retry")
def webhooks_retry(
    ctx: typer.Context,
    ids: Annotated[
        list[int] | None, typer.Argument(metavar="ID...", help="Ids of dead deliveries.")
    ] = None,
) -> None:
    """Try dead deliveries again, now: the same event, body and webhook-id."""
    if not ids:
        raise UserError(
            "name the deliveries to retry (`inkpost webhooks deliveries --status dead`)"
        )

    async def work(scope: OrgScope) -> int:
        return await deliveries.retry_deliveries(
            scope.env, org_id=scope.org_id, actor=scope.actor, delivery_ids=ids
        )

    count = in_org(ctx, work)
    say(f"{count} deliver{'ies' if count != 1 else 'y'} will be tried again.")
