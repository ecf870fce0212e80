"""The operations of the API: each declares its method, path, scope, the models it reads
and answers with, and the problems it may answer. Requests are checked against those
very models and the OpenAPI document is made from them (`web_api.openapi`), so the
document cannot drift from the code."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import content_disposition_filename, parse_content_disposition
from pydantic import BaseModel, ValidationError

from web_api.problems import (
    CONFLICT,
    FORBIDDEN,
    INVALID,
    MISSING_SCOPE,
    NOT_FOUND,
    RATE_LIMITED,
    TOO_LARGE,
    UNAUTHENTICATED,
    UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION,
    FieldError,
    Kind,
    ProblemError,
)
from workflows.api_keys import KeyHolder
from workflows.context import Actor, Env

MAX_ID = 2**31 - 1
MAX_FIELD_BYTES = 64 * 1024
CHUNK = 256 * 1024
PATH_PARAM = re.compile(r"\{([a-z_]+)\}")

COMMON_PROBLEMS = (UNAUTHENTICATED, FORBIDDEN, MISSING_SCOPE, VALIDATION, RATE_LIMITED, UNAVAILABLE)
"""What any operation may answer: no or a bad key, a key not allowed, a bad request, too
many requests, the store down."""

Q = TypeVar("Q", bound=BaseModel)


@dataclass(frozen=True)
class Download:
    """A file to send: the handler names it, the dispatcher streams it."""

    blob_key: str
    filename: str
    media_type: str
    size: int


@dataclass
class Upload:
    """The file part of a multipart upload, streamed: read ``chunks`` once."""

    filename: str
    _part: BodyPartReader
    _digest: Any = field(default_factory=hashlib.sha256)

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await _read(self._part):
            self._digest.update(chunk)
            yield chunk

    async def drain(self) -> None:
        async for _ in self.chunks():
            pass

    def sha256(self) -> str:
        return str(self._digest.hexdigest())


@dataclass(frozen=True)
class Call(Generic[Q]):
    """One authenticated request, checked: what a handler is given."""

    holder: KeyHolder
    env: Env
    """The application's environment behind the key's wall, if it has one."""
    actor: Actor
    ids: dict[str, int]
    query: Any
    body: Any
    upload: Upload | None
    public_url: str
    """Where visitors reach the link pages, without a trailing slash."""

    @property
    def org_id(self) -> int:
        return self.holder.org_id


@dataclass(frozen=True)
class Spelled:
    """An answer already spelled as JSON, in the shape of its operation's ``response``
    model: for the lists read most, whose rows would otherwise be validated into models
    only to be dumped again at once. A test compares each such answer with its model's."""

    body: bytes


Answer = BaseModel | Download | Spelled
Handler = Callable[[Call[Any]], Awaitable[Answer]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    """OpenAPI path template below /api/v1, e.g. ``/documents/{document_id}``; every
    parameter is a positive integer id."""
    operation_id: str
    summary: str
    tag: str
    scope: str
    handler: Handler
    response: type[BaseModel] | None = None
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    upload: type[BaseModel] | None = None
    """The form fields of a multipart upload (sent before its ``file`` part)."""
    binary: str | None = None
    """The media type of a file answer (a download) instead of ``response``."""
    problems: tuple[Kind, ...] = ()
    description: str = ""

    @property
    def path_params(self) -> list[str]:
        return PATH_PARAM.findall(self.path)

    @property
    def all_problems(self) -> tuple[Kind, ...]:
        extra: list[Kind] = []
        if self.path_params:
            extra.append(NOT_FOUND)
        if self.upload is not None:
            extra += [NOT_FOUND, TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, INVALID]
        if self.body is not None:
            extra += [NOT_FOUND, TOO_LARGE, INVALID]
        if self.method == "POST":  # an Idempotency-Key still in use, or used otherwise
            extra += [CONFLICT, INVALID]
        seen: dict[str, Kind] = {}
        for kind in (*COMMON_PROBLEMS, *self.problems, *extra):
            seen.setdefault(kind.name, kind)
        return tuple(seen.values())


@dataclass
class Registry:
    operations: list[Operation] = field(default_factory=list)

    def add(self, operation: Operation) -> None:
        for known in self.operations:
            if known.operation_id == operation.operation_id:
                raise ValueError(f"operation {operation.operation_id} is declared twice")
            if (known.method, known.path) == (operation.method, operation.path):
                raise ValueError(f"{operation.method} {operation.path} is declared twice")
        self.operations.append(operation)

    def extend(self, operations: list[Operation]) -> None:
        for operation in operations:
            self.add(operation)


# Checking a request against the declared models --------------------------------------


def field_errors(error: ValidationError, *, where: str) -> list[FieldError]:
    """Each failed field of ``error``: a JSON pointer into the body, or a parameter name."""
    found = []
    for item in error.errors(include_url=False):
        parts = [str(part) for part in item["loc"]]
        pointer = "/" + "/".join(parts) if where == "body" else ".".join(parts) or where
        found.append(FieldError(pointer=pointer, detail=item["msg"]))
    return found


def path_ids(operation: Operation, match_info: dict[str, str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for name in operation.path_params:
        text = match_info.get(name, "")
        if not text.isdigit() or len(text) > 10 or not 1 <= int(text) <= MAX_ID:
            raise ProblemError(NOT_FOUND, f"there is no {name.removesuffix('_id')} '{text}'")
        ids[name] = int(text)
    return ids


def parse_query(model: type[BaseModel] | None, query: dict[str, str]) -> Any:
    if model is None:
        return None
    try:
        return model.model_validate(query)
    except ValidationError as e:
        raise ProblemError(
            VALIDATION, "the query parameters are not valid", errors=field_errors(e, where="query")
        ) from e


def parse_body(model: type[BaseModel], raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as e:
        raise ProblemError(
            VALIDATION, "the request body is not valid", errors=field_errors(e, where="body")
        ) from e


async def read_json_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as e:
        raise ProblemError(TOO_LARGE, "the request body is too large") from e


async def read_upload_form(request: web.Request, model: type[BaseModel]) -> tuple[Any, Upload, str]:
    """The fields before the ``file`` part, checked, and the file part to stream; with
    the fields' canonical JSON (part of what makes the request the same on a retry)."""
    # Not `request.content_type`: it parses the header with the email package, which
    # costs about a quarter of a millisecond for each new boundary, and every upload has
    # one. `parse_mimetype` is what the multipart reader parses it with anyway.
    media = parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, ""))
    if (media.type, media.subtype) != ("multipart", "form-data"):
        raise ProblemError(
            UNSUPPORTED_MEDIA_TYPE,
            "send the document as multipart/form-data: its fields first, then a 'file' part",
        )
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError) as e:
        raise ProblemError(UNSUPPORTED_MEDIA_TYPE, "the multipart body cannot be read") from e
    fields: dict[str, str] = {}
    upload: Upload | None = None
    while True:
        try:
            part = await reader.next()
        except (ValueError, HttpProcessingError) as e:
            raise ProblemError(VALIDATION, "the multipart body is malformed") from e
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise ProblemError(VALIDATION, "nested multipart bodies are not accepted")
        name, filename = _disposition(part.headers.get(hdrs.CONTENT_DISPOSITION))
        if name == "file":
            upload = Upload(filename=filename or "", _part=part)
            break
        if name is None:
            continue
        data = b""
        while chunk := await _read(part):
            data += chunk
            if len(data) > MAX_FIELD_BYTES:
                raise ProblemError(
                    VALIDATION,
                    f"the field '{name}' is too long",
                    errors=[FieldError(pointer=name, detail="too long")],
                )
        try:
            fields[name] = data.decode()
        except UnicodeDecodeError as e:
            raise ProblemError(
                VALIDATION,
                f"the field '{name}' is not UTF-8 text",
                errors=[FieldError(pointer=name, detail="not UTF-8 text")],
            ) from e
    try:
        checked = model.model_validate(fields)
    except ValidationError as e:
        raise ProblemError(
            VALIDATION, "the upload's fields are not valid", errors=field_errors(e, where="form")
        ) from e
    if upload is None:
        raise ProblemError(
            VALIDATION,
            "the upload has no 'file' part (send the fields first, then the file)",
            errors=[FieldError(pointer="file", detail="Field required")],
        )
    return checked, upload, checked.model_dump_json()


@functools.lru_cache(maxsize=256)
def _disposition(header: str | None) -> tuple[str | None, str | None]:
    """The name and file name a part's Content-Disposition gives, as aiohttp reads them.
    A form's fields come with the same few headers every time, and aiohttp's parser takes
    about 25 µs for each."""
    _, params = parse_content_disposition(header)
    return content_disposition_filename(params, "name"), content_disposition_filename(
        params, "filename"
    )


async def _read(part: BodyPartReader) -> bytes:
    try:
        return await part.read_chunk(CHUNK)
    except (ValueError, HttpProcessingError) as e:
        raise ProblemError(VALIDATION, "the multipart body is malformed") from e
