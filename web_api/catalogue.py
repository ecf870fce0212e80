"""Every operation of the API, in the order the reference lists them."""

from __future__ import annotations

from web_api import documents, people, sharing, signing, webhooks
from web_api.registry import Registry
from workflows.webhooks.addresses import AddressPolicy


def registry(*, webhook_policy: AddressPolicy) -> Registry:
    found = Registry()
    found.extend(documents.operations())
    found.extend(people.operations())
    found.extend(sharing.operations())
    found.extend(signing.operations())
    found.extend(webhooks.operations(webhook_policy))
    return found
