"""The webhook worker in `inkpost serve`, built from the settings: where it may connect,
how long a receiver has to answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from bot.webhooks import WebhookSender, WebhookWorker, client_session
from inkpost.errors import UserError
from inkpost.runtime import Runtime
from inkpost.settings import Settings
from workflows.errors import InvalidInput
from workflows.webhooks.addresses import AddressPolicy


def address_policy(settings: Settings) -> AddressPolicy:
    """Where webhooks may connect; a network in the settings that cannot be read stops
    the command with one line."""
    networks = [n for n in settings.webhook_allowed_networks.split(",") if n.strip()]
    try:
        return AddressPolicy.of(allow_private=settings.webhook_allow_private, networks=networks)
    except InvalidInput as e:
        raise UserError(f"INKPOST_WEBHOOK_ALLOWED_NETWORKS: {e}") from e


def lifetime(runtime: Runtime) -> Callable[[web.Application], AsyncIterator[None]]:
    """The worker that calls webhook endpoints, running as long as the app."""
    settings = runtime.settings
    policy = address_policy(settings)

    async def run(_: web.Application) -> AsyncIterator[None]:
        timeout = settings.webhook_timeout_seconds
        async with client_session(policy, timeout=timeout) as session:
            worker = WebhookWorker(runtime.env, WebhookSender(session, policy, timeout=timeout))
            async with worker.loop.running():
                yield

    return run
