"""The organisation's webhook endpoints: register one (its signing secret is shown once),
list them, rotate one's secret, remove one. Delivery and signing live in `workflows.webhooks`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from storage.models import WebhookEndpoint
from web_api.models import Body, ListQuery, next_cursor
from web_api.pagination import decode_cursor
from web_api.problems import CONFLICT, INVALID
from web_api.registry import Call, Operation
from workflows.listing import page_of
from workflows.webhooks import endpoints
from workflows.webhooks.addresses import AddressPolicy
from workflows.webhooks.endpoints import EndpointView
from workflows.webhooks.events import EventType


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, view: EndpointView) -> WebhookOut:
        return cls(
            id=view.id,
            url=view.url,
            events=list(view.events),
            description=view.description,
            enabled=view.enabled,
            disabled_reason=view.disabled_reason,
            failing_since=view.failing_since,
            created_at=view.created_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery; shown only this once.")

    @classmethod
    def made(cls, made: endpoints.NewEndpoint) -> WebhookCreated:
        return cls(**WebhookOut.of(made.endpoint).model_dump(), secret=made.secret)


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None


class NewWebhook(Body):
    url: str = Field(min_length=1, max_length=2000)
    events: list[EventType] = Field(min_length=1, max_length=len(EventType))
    description: str | None = Field(default=None, max_length=200)


class SecretRotation(Body):
    overlap_hours: float = Field(
        default=endpoints.ROTATION_OVERLAP.total_seconds() / 3600,
        ge=0,
        le=endpoints.MAX_ROTATION_OVERLAP.total_seconds() / 3600,
        description="How long the old secret goes on signing beside the new one (0: not at all).",
    )


class WebhookRemoved(BaseModel):
    id: int
    cancelled_deliveries: int


def operations(policy: AddressPolicy) -> list[Operation]:
    async def create_webhook(call: Call[Any]) -> WebhookCreated:
        body: NewWebhook = call.body
        call.env.require_every_client(to="manage webhooks")
        made = await endpoints.register_endpoint(
            call.env,
            org_id=call.org_id,
            actor=call.actor,
            url=body.url,
            events=[e.value for e in body.events],
            policy=policy,
            description=body.description,
        )
        return WebhookCreated.made(made)

    async def list_webhooks(call: Call[Any]) -> WebhookPage:
        query: ListQuery = call.query
        call.env.require_every_client(to="manage webhooks")
        page = await page_of(
            call.env,
            WebhookEndpoint,
            org_id=call.org_id,
            after=decode_cursor(query.cursor),
            limit=query.limit,
            newest_first=False,
        )
        return WebhookPage(
            items=[WebhookOut.of(EndpointView.of(row)) for row in page.rows],
            next_cursor=next_cursor(page),
        )

    async def rotate_webhook_secret(call: Call[Any]) -> WebhookCreated:
        body: SecretRotation = call.body
        call.env.require_every_client(to="manage webhooks")
        made = await endpoints.rotate_secret(
            call.env,
            org_id=call.org_id,
            actor=call.actor,
            endpoint_id=call.ids["webhook_id"],
            overlap=timedelta(hours=body.overlap_hours),
        )
        return WebhookCreated.made(made)

    async def remove_webhook(call: Call[Any]) -> WebhookRemoved:
        call.env.require_every_client(to="manage webhooks")
        endpoint_id = call.ids["webhook_id"]
        cancelled = await endpoints.remove_endpoint(
            call.env, org_id=call.org_id, actor=call.actor, endpoint_id=endpoint_id
        )
        return WebhookRemoved(id=endpoint_id, cancelled_deliveries=cancelled)

    return [
        Operation(
            method="POST",
            path="/webhooks",
            operation_id="createWebhook",
            summary="Register a webhook endpoint (its signing secret is shown once)",
            tag="webhooks",
            scope="admin",
            handler=create_webhook,
            body=NewWebhook,
            response=WebhookCreated,
            status=201,
            problems=(CONFLICT, INVALID),
        ),
        Operation(
            method="GET",
            path="/webhooks",
            operation_id="listWebhooks",
            summary="List the organisation's webhook endpoints",
            tag="webhooks",
            scope="admin",
            handler=list_webhooks,
            query=ListQuery,
            response=WebhookPage,
        ),
        Operation(
            method="POST",
            path="/webhooks/{webhook_id}/rotate-secret",
            operation_id="rotateWebhookSecret",
            summary="Give a webhook endpoint a new signing secret (shown once); the old one "
            "signs beside it for the overlap",
            tag="webhooks",
            scope="admin",
            handler=rotate_webhook_secret,
            body=SecretRotation,
            response=WebhookCreated,
            problems=(INVALID,),
        ),
        Operation(
            method="DELETE",
            path="/webhooks/{webhook_id}",
            operation_id="deleteWebhook",
            summary="Remove a webhook endpoint; deliveries not yet made are cancelled",
            tag="webhooks",
            scope="admin",
            handler=remove_webhook,
            response=WebhookRemoved,
        ),
    ]
