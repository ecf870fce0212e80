"""``/verify``: anyone uploads a PDF and learns whether its seal is intact, whether it is
a completed request of this installation, and who decided what, when.

The upload is read part by part and refused with 413 as soon as it passes the
installation's upload limit. The form carries the signing pages' form token, keyed here
by a random value in a cookie of this page (double submit), so another site cannot post
to it in a visitor's name. Without a seal to check against (it could not be loaded),
the page says verification is unavailable. Every page speaks the visitor's language; the
verdict names a request by its title, never by staff's reference.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from asn1crypto import x509 as asn1_x509

from web_sign.pages import page_language, render
from web_sign.security import form_token
from web_sign.state import ENV, SETTINGS, SIGNING
from workflows.signing.completion import AUTH_LEVELS
from workflows.signing.verification import check_sealed

COOKIE = "inkpost_verify"
FIELD_LIMIT = 1024
"""Bytes a form field other than the file may have (the token is 64)."""
FORM_OVERHEAD = 64 * 1024
"""Room for the multipart framing and small fields beyond the file itself."""
CHUNK = 64 * 1024
MAX_FILENAME = 200
_NONCE = re.compile(r"[A-Za-z0-9_-]{32,64}")
NO_FILE = "verify.problem.no_file"
UNREADABLE = "verify.problem.unreadable"
TOO_LARGE = "verify.problem.too_large"
NOT_THIS_FORM = "verify.problem.token"

TONES = {
    "sealed_and_matching": "good",
    "intact_but_unknown": "caution",
    "modified": "bad",
    "not_sealed": "caution",
    "not_ours": "caution",
    "not_a_pdf": "bad",
}
AUTH_KEYS = {said: f"verify.auth.{level.replace(':', '_')}" for level, said in AUTH_LEVELS.items()}
"""How a decider was identified, as the seal and the certificate say it in English, to the
catalogue key a page says it with."""
SEAL_TIME = "%Y-%m-%d %H:%M:%S UTC"
"""A decision time as a seal signature's reason prints it."""


@dataclass(frozen=True)
class VerifyConfig:
    trust: tuple[asn1_x509.Certificate, ...]
    """The certificates this installation's seals chain to; empty: the seal could not be
    loaded and nothing can be verified."""


VERIFY = web.AppKey("inkpost_verify", VerifyConfig)


@dataclass(frozen=True)
class Upload:
    csrf: str
    filename: str
    data: bytes


class UploadRefused(Exception):
    """The form could not be taken: its status and what to tell the visitor (a key of
    the catalogues, ``verify.problem.*``)."""

    def __init__(self, status: int, says: str) -> None:
        super().__init__(says)
        self.status = status
        self.says = says


def add_routes(app: web.Application, *, trust: Sequence[asn1_x509.Certificate] | None) -> None:
    """``GET /verify`` (the form) and ``POST /verify`` (the verdict); call after the
    signing routes, whose form secret keys this form too."""
    app[VERIFY] = VerifyConfig(trust=tuple(trust or ()))
    app.router.add_get("/verify", verify_form, name="verify")
    app.router.add_post("/verify", verify_upload, name="verify_upload")


async def verify_form(request: web.Request) -> web.Response:
    return _form(request)


async def verify_upload(request: web.Request) -> web.Response:
    """Check the uploaded PDF; any problem with the form answers the form again with the
    reason, and nothing is stored."""
    trust = request.app[VERIFY].trust
    if not trust:
        return _form(request)
    limit = request.app[ENV].limits.max_upload_bytes
    try:
        upload = await read_upload(request, limit=limit)
        _check_token(request, upload.csrf)
        if not upload.data:
            raise UploadRefused(400, NO_FILE)
    except UploadRefused as refused:
        return _form(request, problem=refused.says, status=refused.status)
    verdict = await check_sealed(request.app[ENV], upload.data, trusted=trust)
    return _page(
        request,
        "verify_result.html",
        verdict=verdict,
        tone=TONES[verdict.state],
        filename=upload.filename,
        decided_at=decided_at,
        auth_key=auth_key,
    )


def decided_at(printed: str | None) -> dt.datetime | None:
    """The moment a seal signature's reason prints (``2026-11-23 12:00:00 UTC``), for the
    page to write in its reader's way; None when it is not in that form."""
    try:
        return dt.datetime.strptime(printed or "", SEAL_TIME).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def auth_key(said: str | None) -> str | None:
    """The catalogue key of how a decider was identified; None for wording of another
    installation, which the page repeats as it is."""
    return AUTH_KEYS.get(said or "")


async def read_upload(request: web.Request, *, limit: int) -> Upload:
    """The form's token and file, read in chunks: past ``limit`` bytes of file (or a
    declared length that cannot fit) the upload is refused before more is read."""
    too_large = UploadRefused(413, TOO_LARGE)
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
        raise too_large
    if request.content_type != "multipart/form-data":
        raise UploadRefused(400, NO_FILE)
    csrf, filename, data = "", "", b""
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, MultipartReader):
                raise UploadRefused(400, UNREADABLE)
            if part.name == "pdf" and part.filename is not None:
                filename = part.filename[:MAX_FILENAME]
                data = await _read_part(part, limit=limit, refusal=too_large)
            else:
                refusal = UploadRefused(400, UNREADABLE)
                value = await _read_part(part, limit=FIELD_LIMIT, refusal=refusal)
                if part.name == "csrf":
                    csrf = value.decode("ascii", "replace")
    except (ValueError, AssertionError, UnicodeError) as error:
        raise UploadRefused(400, UNREADABLE) from error
    return Upload(csrf=csrf, filename=filename, data=data)


async def _read_part(part: BodyPartReader, *, limit: int, refusal: UploadRefused) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(CHUNK):
        size += len(chunk)
        if size > limit:
            raise refusal
        chunks.append(chunk)
    return b"".join(chunks)


def _check_token(request: web.Request, posted: str) -> None:
    nonce = _nonce(request)
    expected = _token(request, nonce) if nonce else ""
    if not expected or not hmac.compare_digest(posted.encode(), expected.encode()):
        raise UploadRefused(403, NOT_THIS_FORM)


def _form(request: web.Request, *, problem: str | None = None, status: int = 200) -> web.Response:
    if not request.app[VERIFY].trust:
        return _page(request, "verify.html", status=503, unavailable=True, problem=None)
    return _page(request, "verify.html", status=status, unavailable=False, problem=problem)


def _page(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A page with the upload form, its token and the cookie that token is bound to, in
    the visitor's language."""
    nonce = _nonce(request) or secrets.token_urlsafe(32)
    limit = request.app[ENV].limits.max_upload_bytes
    response = render(
        request,
        template,
        status=status,
        lang=page_language(request),
        csrf=_token(request, nonce),
        action=f"{request.app[SETTINGS].url_prefix}/verify",
        limit=limit,
        **context,
    )
    settings = request.app[SETTINGS]
    response.set_cookie(
        COOKIE,
        nonce,
        path=f"{settings.url_prefix}/verify",
        httponly=True,
        samesite="Strict",
        secure=settings.public_url.startswith("https://"),
    )
    return response


def _nonce(request: web.Request) -> str | None:
    value = request.cookies.get(COOKIE, "")
    return value if _NONCE.fullmatch(value) else None


def _token(request: web.Request, nonce: str) -> str:
    return form_token(request.app[SIGNING].form_secret, f"verify:{nonce}")
