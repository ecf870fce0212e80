"""How a channel failed to deliver, in the adapters' own words (platform errors wrapped)."""

from __future__ import annotations


class DeliveryError(Exception):
    """Base of the outcomes a channel sender reports instead of success."""


class Throttled(DeliveryError):
    """The platform asked to wait; not a failure."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited: retry after {retry_after} s")
        self.retry_after = retry_after


class Unreachable(DeliveryError):
    """This person cannot be reached on this channel (blocked the bot, bad address)."""


class TemporaryFailure(DeliveryError):
    """The channel failed in a way that may pass: retry with back-off, and not before
    ``retry_after`` seconds when the other side asked for that."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(DeliveryError):
    """The message itself can never be delivered as it is."""
