"""The integration API's routes under ``/api/v1`` of the web app: authentication, scopes,
rate limits, idempotent retries and problem answers, around the operations of the
registry."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler as AiohttpHandler

from storage.errors import log_failure
from web_api import catalogue, openapi
from web_api.problems import (
    BROKE,
    CONFLICT,
    METHOD_NOT_ALLOWED,
    MISSING_SCOPE,
    NOT_FOUND,
    RATE_LIMITED,
    TOO_LARGE,
    ProblemError,
    kind_of,
    problem_response,
)
from web_api.rate import RateLimit, RateLimiter, retry_after
from web_api.registry import (
    PATH_PARAM,
    Answer,
    Call,
    Download,
    Operation,
    Registry,
    Spelled,
    parse_body,
    parse_query,
    path_ids,
    read_json_body,
    read_upload_form,
)
from web_api.streaming import send_chunks
from workflows import api_keys, idempotency
from workflows.context import Env
from workflows.errors import WorkflowError
from workflows.webhooks.addresses import AddressPolicy

PREFIX = "/api/v1"
LOG = logging.getLogger("inkpost.api")
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class ApiState:
    env: Env
    registry: Registry
    limiter: RateLimiter
    document: dict[str, Any]
    public_url: str


API = web.AppKey("inkpost_api", ApiState)


def add_api(
    app: web.Application,
    *,
    env: Env,
    public_url: str,
    rate: RateLimit | None = None,
    webhook_policy: AddressPolicy | None = None,
) -> None:
    """Serve the integration API under ``/api/v1`` of ``app``; links it makes start with
    ``public_url``; webhook endpoints registered through it must satisfy
    ``webhook_policy`` (default: public addresses only)."""
    registry = catalogue.registry(webhook_policy=webhook_policy or AddressPolicy())
    app[API] = ApiState(
        env=env,
        registry=registry,
        limiter=RateLimiter(rate or RateLimit(), env),
        document=openapi.document(registry),
        public_url=public_url.rstrip("/"),
    )
    app.router.add_get(PREFIX + "/openapi.json", _guarded(_openapi_json), name="api_openapi")
    app.router.add_get(PREFIX + "/docs", _guarded(_docs), name="api_docs")
    for operation in registry.operations:
        app.router.add_route(
            operation.method,
            PREFIX + operation.path,
            _guarded(_endpoint(operation)),
            name="api_" + operation.operation_id,
        )
    app.router.add_route("*", PREFIX + "/{tail:.*}", _guarded(_nothing_here), name="api_none")


async def _openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[API].document)


async def _docs(request: web.Request) -> web.Response:
    return web.Response(
        text=openapi.reference_page(request.app[API].registry), content_type="text/html"
    )


async def _nothing_here(request: web.Request) -> web.Response:
    """No operation has this path, or none this method."""
    path = request.path.removeprefix(PREFIX)
    allowed = sorted(
        op.method
        for op in request.app[API].registry.operations
        if _template(op.path).fullmatch(path)
    )
    if allowed:
        raise ProblemError(
            METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed here (allowed: {', '.join(allowed)})",
            headers={"Allow": ", ".join(allowed)},
        )
    raise ProblemError(NOT_FOUND, "no operation of this API has this path")


def _template(path: str) -> re.Pattern[str]:
    parts = PATH_PARAM.split(path)  # literal, parameter name, literal, ...
    return re.compile(
        "".join(re.escape(part) if i % 2 == 0 else "[^/]+" for i, part in enumerate(parts))
    )


def _guarded(handler: AiohttpHandler) -> AiohttpHandler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        return await answer_problems(request, handler)

    return guarded


async def answer_problems(request: web.Request, handler: AiohttpHandler) -> web.StreamResponse:
    """The one place an error becomes a problem answer."""
    try:
        return await handler(request)
    except ProblemError as e:
        return problem_response(
            e.kind, e.detail, instance=request.path, errors=e.errors, headers=e.headers
        )
    except web.HTTPException as e:
        if e.status == 413:
            return problem_response(TOO_LARGE, "the request body is too large")
        raise
    except Exception as e:
        kind = kind_of(e)
        if kind is None:
            LOG.exception("unexpected failure in %s %s", request.method, request.path)
            return problem_response(BROKE, "something went wrong on our side")
        if kind.status >= 500:
            LOG.warning(
                "%s %s answered %d: %s: %s",
                request.method,
                request.path,
                kind.status,
                type(e).__name__,
                e,
            )
        detail = str(e) if isinstance(e, WorkflowError) else "the store is unavailable"
        return problem_response(kind, detail, instance=request.path)


def _endpoint(operation: Operation) -> AiohttpHandler:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        return await handle(request, operation)

    return endpoint


async def handle(request: web.Request, operation: Operation) -> web.StreamResponse:
    """Authenticate, limit, check, run (or replay) and answer one operation."""
    state = request.app[API]
    holder = await api_keys.authenticate(state.env, token=_bearer(request))
    wait = await state.limiter.take(holder.key_id)
    if wait is not None:
        raise ProblemError(
            RATE_LIMITED,
            "this API key made too many requests; retry after the time in Retry-After",
            headers={"Retry-After": retry_after(wait)},
        )
    if not holder.may(operation.scope):
        raise ProblemError(
            MISSING_SCOPE, f"this API key lacks the '{operation.scope}' scope this needs"
        )
    ids = path_ids(operation, dict(request.match_info))
    query = parse_query(operation.query, dict(request.query))
    body = None
    upload = None
    identity = ""
    if operation.body is not None:
        raw = await read_json_body(request)
        body = parse_body(operation.body, raw)
        identity = hashlib.sha256(raw).hexdigest()
    elif operation.upload is not None:
        body, upload, identity = await read_upload_form(request, operation.upload)
    env = state.env.walled(holder.wall)
    actor = holder.actor.with_request(
        ip=request.remote, user_agent=request.headers.get("User-Agent")
    )
    call: Call[Any] = Call(
        holder=holder,
        env=env,
        actor=actor,
        ids=ids,
        query=query,
        body=body,
        upload=upload,
        public_url=state.public_url,
    )
    idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
    if operation.method != "POST" or idempotency_key is None:
        return await _answer(request, operation, await operation.handler(call))

    return await _once(request, operation, call, idempotency_key, identity)


async def _once(
    request: web.Request,
    operation: Operation,
    call: Call[Any],
    idempotency_key: str,
    identity: str,
) -> web.StreamResponse:
    """Answer a POST sent with an Idempotency-Key: the first with the key runs and its
    answer is kept, a retry gets that answer, and a retry while the first is still being
    answered is told to wait (409) rather than run beside it."""
    env, holder, upload = request.app[API].env, call.holder, call.upload
    # An upload's file is read by the operation: until then only its fields are known.
    fields_only = _fingerprint(request, identity, None)
    kept = await idempotency.reserve(
        env,
        org_id=holder.org_id,
        key_id=holder.key_id,
        idempotency_key=idempotency_key,
        request_fingerprint=fields_only,
    )
    if kept is not None:
        if upload is not None:
            await upload.drain()
        whole = fields_only if kept.answer is None else _fingerprint(request, identity, upload)
        answer = kept.for_request(whole)
        if answer is None:
            raise ProblemError(
                CONFLICT,
                "a request with this Idempotency-Key is still being answered; "
                "retry once it has ended",
                headers={"Retry-After": "1"},
            )
        replayed = web.Response(
            status=answer.status, body=answer.body.encode(), content_type=answer.content_type
        )
        replayed.headers[REPLAYED_HEADER] = "true"
        return replayed
    try:
        response = await _answer(request, operation, await operation.handler(call))
    except BaseException:
        await _let_go(env, holder.key_id, idempotency_key)
        raise
    if not (isinstance(response, web.Response) and 200 <= response.status < 300):
        await _let_go(env, holder.key_id, idempotency_key)
        return response
    await idempotency.keep_answer(
        env,
        key_id=holder.key_id,
        idempotency_key=idempotency_key,
        request_fingerprint=_fingerprint(request, identity, upload),
        answer=idempotency.Answer(
            status=response.status,
            content_type=response.content_type,
            body=(response.text or ""),
        ),
    )
    return response


async def _let_go(env: Env, key_id: int, idempotency_key: str) -> None:
    """Release the key of a request that kept no answer, so that a retry runs anew; if
    that fails too, the reservation lapses after `idempotency.IN_FLIGHT_FOR`."""
    try:
        await idempotency.release(env, key_id=key_id, idempotency_key=idempotency_key)
    except Exception as error:
        log_failure(LOG, error, "could not release an Idempotency-Key")


def _fingerprint(request: web.Request, identity: str, upload: Any) -> str:
    body = identity + (":" + upload.sha256() if upload is not None else "")
    return idempotency.fingerprint(
        method=request.method,
        path=request.path_qs,
        body_sha256=hashlib.sha256(body.encode()).hexdigest(),
    )


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def _answer(request: web.Request, operation: Operation, result: Answer) -> web.StreamResponse:
    if isinstance(result, Download):
        return await _send(request, result)
    body = result.body if isinstance(result, Spelled) else result.model_dump_json().encode()
    return web.Response(status=operation.status, body=body, content_type="application/json")


async def _send(request: web.Request, download: Download) -> web.StreamResponse:
    state = request.app[API]
    response = web.StreamResponse(
        headers={
            "Content-Type": download.media_type,
            "Content-Length": str(download.size),
            "Content-Disposition": _disposition(download.filename),
        }
    )
    await send_chunks(request, response, state.env.blobs.read(download.blob_key), log=LOG)
    return response


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
