"""The fake Bot API's wire format: a method's parameters in, Telegram's error answer out.

Parameters arrive in the query string, a JSON body, a url-encoded form or a multipart
form (PTB sends the last two); ``Params`` reads them all the same way and types them on
access. A method that refuses raises ``ApiError``, which becomes ``{"ok": false,
"error_code": N, "description": ...}`` with the same HTTP status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

JSON = dict[str, Any]
LOOPBACK = "127.0.0.1"


class ApiError(Exception):
    """Raised by a method handler; becomes Telegram's error response."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    """A method's parameters from the query, a JSON body or a form; typed on access."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, Upload):
            raise bad_request(f"{name} must be a String")
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool):
            raise bad_request(f"{name} must be an Integer")
        try:
            return int(value)
        except (TypeError, ValueError) as e:
            raise bad_request(f"{name} must be an Integer") from e

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def decoded(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError as e:
                raise bad_request(f"can't parse {name} JSON object") from e
        return value

    def loggable(self) -> JSON:
        return {
            key: f"<file {value.filename!r}, {len(value.data)} bytes>"
            if isinstance(value, Upload)
            else value
            for key, value in self.values.items()
        }


async def read_params(request: web.Request, *, max_upload_bytes: int) -> Params:
    """Everything the request says, whichever way the client chose to send it."""
    values: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return Params(values)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as e:
            raise bad_request("can't parse JSON body") from e
        if not isinstance(body, dict):
            raise bad_request("JSON body must be an object")
        values.update(body)
    elif request.content_type == "multipart/form-data":
        values.update(await _read_multipart(request, max_upload_bytes))
    else:
        try:
            values.update(await request.post())
        except web.HTTPRequestEntityTooLarge as e:
            raise ApiError(413, "Request Entity Too Large") from e
    return Params(values)


async def _read_multipart(request: web.Request, max_upload_bytes: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    total = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            continue
        chunks: list[bytes] = []
        while chunk := await part.read_chunk(64 * 1024):
            total += len(chunk)
            if total <= max_upload_bytes:
                chunks.append(chunk)
        if part.filename is None:
            values[part.name] = b"".join(chunks).decode()
        else:
            content_type = part.headers.get(aiohttp.hdrs.CONTENT_TYPE)
            values[part.name] = Upload(part.filename, content_type, b"".join(chunks))
    if total > max_upload_bytes:
        raise ApiError(413, "Request Entity Too Large")
    return values
