"""Sending a document: which bytes a request asks for, the headers, and streaming.

A blob with a local file goes out through ``web.FileResponse`` (sendfile, ranges and
conditional requests built in). Any other blob (S3) is streamed from ``BlobStore.read``
with the same rules implemented here, and a small file kept in memory
(`web_sign.small_files`) is answered from its bytes: one ``plan_transfer`` serves them
all, and decides whether a request counts as a download.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import quote

from aiohttp import ETag, web

from storage.blobs import BlobStore
from storage.models import Document
from web_api.streaming import send_chunks
from web_sign.logs import LOG

CONDITIONAL_HEADERS = ("If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since")
# Letters NFKD does not take apart, and punctuation with a plain ASCII cousin.
_ASCII_COUSINS = str.maketrans(
    {
        "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss",
        "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "Th", "ı": "i",
        "–": "-", "—": "-", "‘": "'", "’": "'", "“": "'", "”": "'", "„": "'", "«": "'",
        "»": "'", "…": "...",
    }
)  # fmt: skip
# RFC 5987 attr-char beyond letters, digits and "-._~", which quote() keeps anyway.
_ATTR_CHARS = "!#$&+^`|"


class Outcome(Enum):
    FULL = 200
    PARTIAL = 206
    NOT_MODIFIED = 304
    PRECONDITION_FAILED = 412
    UNSATISFIABLE = 416


@dataclass(frozen=True)
class Validators:
    """What conditional and range requests are judged against."""

    etag: str
    """Unquoted, as aiohttp's ``ETag.value``."""
    size: int
    last_modified: float
    """POSIX seconds."""


@dataclass(frozen=True)
class Transfer:
    outcome: Outcome
    start: int = 0
    stop: int = 0
    """Exclusive."""


def file_validators(path: Path) -> Validators:
    """The validators ``web.FileResponse`` uses for a file (its ETag is mtime-size)."""
    st = path.stat()
    return Validators(f"{st.st_mtime_ns:x}-{st.st_size:x}", st.st_size, st.st_mtime)


def document_validators(document: Document) -> Validators:
    """For a blob without a local file: the content's SHA-256 is its ETag."""
    return Validators(document.sha256, document.size, document.created_at.timestamp())


def whole_file_asked(request: web.BaseRequest) -> bool:
    """Whether a request gets the whole file whatever the document's validators say: a GET
    without conditions or ranges."""
    headers = request.headers
    return (
        request.method == "GET"
        and "Range" not in headers
        and not any(name in headers for name in CONDITIONAL_HEADERS)
    )


def counted_before_lookup(request: web.BaseRequest) -> bool:
    """Whether a request reads the file from its start whatever the document's validators
    say: a GET without conditions, asking for everything or for a range from byte 0."""
    if request.method != "GET":
        return False
    headers = request.headers
    if any(name in headers for name in CONDITIONAL_HEADERS):
        return False
    if "Range" not in headers:
        return True
    try:
        return request.http_range.start == 0
    except ValueError:
        return False


def plan_transfer(request: web.BaseRequest, validators: Validators) -> Transfer:
    """What to answer, judged as ``web.FileResponse`` judges (RFC 9110 §13, §14)."""
    etag, size, modified = validators.etag, validators.size, validators.last_modified
    if_match = request.if_match
    if if_match is not None and not _etag_match(etag, if_match, weak=False):
        return Transfer(Outcome.PRECONDITION_FAILED)
    since = request.if_unmodified_since
    if if_match is None and since is not None and modified > since.timestamp():
        return Transfer(Outcome.PRECONDITION_FAILED)
    if_none_match = request.if_none_match
    if if_none_match is not None and _etag_match(etag, if_none_match, weak=True):
        return Transfer(Outcome.NOT_MODIFIED)
    since = request.if_modified_since
    if if_none_match is None and since is not None and modified <= since.timestamp():
        return Transfer(Outcome.NOT_MODIFIED)
    if_range = request.if_range
    if if_range is None or modified <= if_range.timestamp():
        try:
            wanted = request.http_range
        except ValueError:
            return Transfer(Outcome.UNSATISFIABLE)
        start, end = wanted.start, wanted.stop
        if start is not None:
            if start < 0 and end is None:
                start, stop = max(0, size + start), size
            else:
                stop = min(end if end is not None else size, size)
            if start >= size:
                return Transfer(Outcome.UNSATISFIABLE)
            return Transfer(Outcome.PARTIAL, start, stop)
    return Transfer(Outcome.FULL, 0, size)


def _etag_match(value: str, etags: tuple[ETag, ...], *, weak: bool) -> bool:
    if len(etags) == 1 and etags[0].value == "*":
        return True
    return any(etag.value == value and (weak or not etag.is_weak) for etag in etags)


@functools.lru_cache(maxsize=1024)
def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266, 5987)."""
    folded = unicodedata.normalize("NFKD", filename.translate(_ASCII_COUSINS))
    fallback = "".join(ch for ch in folded if " " <= ch <= "~" and ch not in '"\\%;')
    fallback = " ".join(fallback.split())
    stem, dot, extension = fallback.rpartition(".")
    if not fallback.strip(". ") or (dot and not stem.strip()):
        fallback = f"document.{extension}" if dot and extension else "document"
    encoded = quote(filename, safe=_ATTR_CHARS)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def document_headers(document: Document) -> dict[str, str]:
    media_type = document.media_type
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    return {
        "Content-Type": media_type,
        "Content-Disposition": content_disposition(document.filename),
    }


async def send_document(
    request: web.Request, *, blobs: BlobStore, document: Document
) -> web.StreamResponse:
    """A stored document as the answer: sendfile for a local file, else streamed from the
    store; both honour Range and the validators."""
    local = blobs.local_path(document.blob_key)
    if local is not None:
        return web.FileResponse(local, headers=document_headers(document))
    transfer = plan_transfer(request, document_validators(document))
    return await stream_blob(request, blobs=blobs, document=document, transfer=transfer)


def send_bytes(
    request: web.Request,
    *,
    document: Document,
    validators: Validators,
    transfer: Transfer,
    content: bytes,
) -> web.Response:
    """Answer a full or partial transfer from the document's bytes in memory, with the
    headers ``web.FileResponse`` sends."""
    outcome = transfer.outcome
    assert outcome in (Outcome.FULL, Outcome.PARTIAL), outcome
    body = content if outcome is Outcome.FULL else content[transfer.start : transfer.stop]
    response = web.Response(status=outcome.value, body=body, headers=document_headers(document))
    response.etag = validators.etag
    response.last_modified = validators.last_modified
    response.headers["Accept-Ranges"] = "bytes"
    if outcome is Outcome.PARTIAL:
        last = transfer.stop - 1
        response.headers["Content-Range"] = f"bytes {transfer.start}-{last}/{validators.size}"
    return response


def answer_without_body(
    document: Document, transfer: Transfer, validators: Validators
) -> web.StreamResponse | None:
    """The answer to a transfer that sends no part of the file (412, 416, 304), with the
    headers ``web.FileResponse`` gives it; None for one that sends some."""
    outcome = transfer.outcome
    if outcome not in (Outcome.PRECONDITION_FAILED, Outcome.UNSATISFIABLE, Outcome.NOT_MODIFIED):
        return None
    headers = document_headers(document)
    if outcome is Outcome.UNSATISFIABLE:
        headers["Content-Range"] = f"bytes */{validators.size}"
        return web.StreamResponse(status=outcome.value, headers=headers)  # no length, as there
    response = web.Response(status=outcome.value, headers=headers)
    if outcome is Outcome.NOT_MODIFIED:
        response.etag = validators.etag
        response.last_modified = validators.last_modified
    return response


async def stream_blob(
    request: web.Request, *, blobs: BlobStore, document: Document, transfer: Transfer
) -> web.StreamResponse:
    """Answer from ``blobs.read`` what ``web.FileResponse`` answers from a local file."""
    validators = document_validators(document)
    outcome = transfer.outcome
    bodiless = answer_without_body(document, transfer, validators)
    if bodiless is not None:
        return bodiless
    response = web.StreamResponse(status=outcome.value, headers=document_headers(document))
    response.etag = validators.etag
    response.last_modified = validators.last_modified
    response.headers["Accept-Ranges"] = "bytes"
    if outcome is Outcome.PARTIAL:
        last = transfer.stop - 1
        response.headers["Content-Range"] = f"bytes {transfer.start}-{last}/{validators.size}"
    response.content_length = transfer.stop - transfer.start
    if request.method == "HEAD":
        return response
    chunks = blobs.read(document.blob_key, start=transfer.start, end=transfer.stop)
    await send_chunks(request, response, chunks, log=LOG)
    return response
