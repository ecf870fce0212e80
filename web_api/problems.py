"""RFC 9457 problem details: the one mapping from errors to an HTTP status and a stable
``type``, and the body every refusal of the API has (``application/problem+json``)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel, Field

from storage.errors import StorageError, store_unreachable
from workflows.api_keys import BadKey
from workflows.errors import (
    Conflict,
    Gone,
    InvalidInput,
    NotAllowed,
    NotAvailableNow,
    NotFound,
    TooMany,
    Unavailable,
    WorkflowError,
)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://inkpost.dev/problems/"


class FieldError(BaseModel):
    pointer: str = Field(description="JSON pointer (or form field / parameter name) at fault.")
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem: ``type`` is stable for each kind of refusal."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


@dataclass(frozen=True)
class Kind:
    name: str
    status: int
    title: str

    @property
    def type(self) -> str:
        return TYPE_BASE + self.name


UNAUTHENTICATED = Kind("unauthenticated", 401, "Not authenticated")
FORBIDDEN = Kind("forbidden", 403, "Not allowed")
MISSING_SCOPE = Kind("missing-scope", 403, "The key lacks a scope")
NOT_FOUND = Kind("not-found", 404, "Not found")
METHOD_NOT_ALLOWED = Kind("method-not-allowed", 405, "Method not allowed")
CONFLICT = Kind("conflict", 409, "Conflict")
GONE = Kind("gone", 410, "Gone")
TOO_LARGE = Kind("too-large", 413, "Too large")
UNSUPPORTED_MEDIA_TYPE = Kind("unsupported-media-type", 415, "Unsupported media type")
INVALID = Kind("invalid-input", 422, "Invalid input")
VALIDATION = Kind("validation", 422, "Validation failed")
NOT_AVAILABLE_NOW = Kind("not-available-now", 403, "Not available now")
RATE_LIMITED = Kind("rate-limited", 429, "Too many requests")
TOO_MANY_TRIES = Kind("too-many-tries", 429, "Too many tries")
UNAVAILABLE = Kind("unavailable", 503, "Temporarily unavailable")
RETRY_AFTER_OUTAGE = "30"
"""The Retry-After of every answer that the store is out of reach, in seconds: about
what a database takes to restart or fail over, soon enough that a client retrying then
will likely be served."""
BROKE = Kind("internal", 500, "Internal error")

KINDS = (
    UNAUTHENTICATED,
    FORBIDDEN,
    MISSING_SCOPE,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    CONFLICT,
    GONE,
    TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    INVALID,
    VALIDATION,
    NOT_AVAILABLE_NOW,
    RATE_LIMITED,
    TOO_MANY_TRIES,
    UNAVAILABLE,
    BROKE,
)

ERRORS: dict[type[Exception], Kind] = {
    BadKey: UNAUTHENTICATED,
    NotFound: NOT_FOUND,
    Gone: GONE,
    NotAvailableNow: NOT_AVAILABLE_NOW,
    TooMany: TOO_MANY_TRIES,
    NotAllowed: FORBIDDEN,
    Conflict: CONFLICT,
    InvalidInput: INVALID,
    Unavailable: UNAVAILABLE,
    StorageError: UNAVAILABLE,
    WorkflowError: INVALID,
}


class ProblemError(Exception):
    """A refusal the adapter itself makes (a bad parameter, a missing scope, too many
    requests)."""

    def __init__(
        self,
        kind: Kind,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def kind_of(error: Exception) -> Kind | None:
    """The kind of the nearest mapped class in the error's ancestry; a database out of
    reach is unavailable, whatever raised it."""
    if store_unreachable(error):
        return UNAVAILABLE
    for cls in type(error).__mro__:
        kind = ERRORS.get(cls)
        if kind is not None:
            return kind
    return None


def problem_response(
    kind: Kind,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    problem = Problem(
        type=kind.type,
        title=kind.title,
        status=kind.status,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    response = web.Response(
        status=kind.status,
        body=problem.model_dump_json(exclude_none=True).encode(),
        content_type=PROBLEM_JSON,
        headers=headers,
    )
    if kind is UNAUTHENTICATED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="inkpost"'
    elif kind is UNAVAILABLE:
        response.headers.setdefault("Retry-After", RETRY_AFTER_OUTAGE)
    return response
