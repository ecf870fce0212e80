"""Signing a webhook as Standard Webhooks prescribes, with its reference library: the
secret (``whsec_`` and base64), and the three headers a receiver verifies."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
"""The specification asks for 24 to 64 random bytes."""
MESSAGE_PREFIX = "msg_"


def new_secret() -> str:
    """A fresh signing secret, as shown to the people who set up the receiver."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_message_id() -> str:
    """A ``webhook-id``: the same on every attempt to deliver one event to one endpoint."""
    return MESSAGE_PREFIX + secrets.token_urlsafe(18)


def signed_headers(
    *, secret: str, message_id: str, at: datetime, body: str, also: Sequence[str] = ()
) -> dict[str, str]:
    """The headers of one attempt to deliver ``body``: signed at ``at`` (each attempt
    signs anew, with its own time; the body and id never change).

    ``also`` are secrets that sign beside ``secret`` (the one before a rotation): the
    specification lets ``webhook-signature`` carry several signatures, space-separated,
    and a receiver accepts the request when any of them is its own."""
    signatures = [Webhook(key).sign(message_id, at, body.encode()) for key in (secret, *also)]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }
