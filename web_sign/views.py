"""The link pages: a document's page, its page previews and its download.

Handlers call the workflows and let their errors propagate: ``errors.error_pages`` turns
each into its status and page.
"""

from __future__ import annotations

from aiohttp import web

from web_sign import downloads
from web_sign.pages import page_language, render
from web_sign.portal_session import link_form_token
from web_sign.previews import PageOutOfRange, figures
from web_sign.security import visitor_of
from web_sign.state import ENV, METRICS, PREVIEWS, RECORDER, SETTINGS, SMALL_FILES
from workflows.sharing import access, ranges

PREVIEW_MAX_AGE = 7 * 24 * 3600
PREVIEW_CACHE = f"private, max-age={PREVIEW_MAX_AGE}"
_SENT = (downloads.Outcome.FULL, downloads.Outcome.PARTIAL)
"""What a small file kept in memory answers itself (the rest carries no body)."""


async def document_page(request: web.Request) -> web.Response:
    """The document's title, facts, page previews and download button; records a visit."""
    env = request.app[ENV]
    token = request.match_info["token"]
    if request.method == "HEAD":
        found = await access.resolve(env, token)
    else:
        found = await access.open_shared(
            env, token, visitor_of(request), recorder=request.app.get(RECORDER)
        )
        request.app[METRICS].opened.inc()
    document = found.document
    base = f"{request.app[SETTINGS].url_prefix}/d/{token}"
    share = found.share
    downloads_left = (
        None if share.max_downloads is None else share.max_downloads - share.download_count
    )
    reader = found.recipient.language if found.recipient is not None else None
    language = page_language(request, known=reader, default=found.organization.default_language)
    shown = figures(document, f"{base}/pages", language)
    return render(
        request,
        "document.html",
        lang=language,
        document=document,
        organization=found.organization,
        recipient=found.recipient,
        share=share,
        downloads_left=downloads_left,
        file_url=f"{base}/file",
        figures=shown,
        total_pages=document.page_count,
        more_pages=bool(shown) and (document.page_count or 0) > len(shown),
        portal=_portal_form(request, token) if found.recipient is not None else None,
    )


def _portal_form(request: web.Request, token: str) -> dict[str, str]:
    """The "All your documents" form of a personal link's page."""
    return {
        "action": f"{request.app[SETTINGS].url_prefix}/d/{token}/me",
        "csrf": link_form_token(request, token),
    }


async def page_image(request: web.Request) -> web.StreamResponse:
    """One page of a PDF as a PNG. Checks the link like any request, records nothing."""
    found = await access.resolve(request.app[ENV], request.match_info["token"])
    number = int(request.match_info["number"])
    try:
        path = await request.app[PREVIEWS].page_png(found.document, number)
    except PageOutOfRange as e:
        raise web.HTTPNotFound() from e
    return web.FileResponse(
        path, headers={"Content-Type": "image/png", "Cache-Control": PREVIEW_CACHE}
    )


async def download(request: web.Request) -> web.StreamResponse:
    """The file itself, with ranges and conditional requests; a small one from memory.

    A GET answered with the whole file counts against the link's download limit and is
    recorded, before a byte goes. Range requests count once the visitor has fetched the
    whole file by them (`ranges`); HEAD, 304, 412 and 416 only check the link.
    """
    env = request.app[ENV]
    token = request.match_info["token"]
    visitor = visitor_of(request)
    recorder = request.app.get(RECORDER)
    # A plain GET is a download whatever the file says: check and count in one step.
    counted = downloads.whole_file_asked(request)
    if counted:
        found = await access.start_download(env, token, visitor, recorder=recorder)
    else:
        found = await access.resolve(env, token)
    document = found.document
    small_files = request.app[SMALL_FILES]
    kept = small_files.kept(document)
    local = None
    if kept is not None:
        validators = kept.validators
    elif (local := env.blobs.local_path(document.blob_key)) is not None:
        validators = downloads.file_validators(local)
    else:
        validators = downloads.document_validators(document)
    transfer = downloads.plan_transfer(request, validators)
    if not counted and request.method == "GET":
        if transfer.outcome is downloads.Outcome.FULL:
            await access.start_download(env, token, visitor, recorder=recorder)
            counted = True
        elif transfer.outcome is downloads.Outcome.PARTIAL:
            counted = await ranges.fetch_range(
                env,
                token,
                found,
                visitor,
                start=transfer.start,
                stop=transfer.stop,
                recorder=recorder,
            )
    if counted:
        request.app[METRICS].downloaded.inc()
    if kept is not None:
        bodiless = downloads.answer_without_body(document, transfer, validators)
        if bodiless is not None:
            return bodiless
        content: bytes | None = kept.content
    elif transfer.outcome in _SENT and small_files.fits(document):
        content = await small_files.content(document, validators)
    else:
        content = None
    if content is not None:
        return downloads.send_bytes(
            request,
            document=document,
            validators=validators,
            transfer=transfer,
            content=content,
        )
    if local is not None:
        # FileResponse applies the same rules as plan_transfer, with sendfile.
        return web.FileResponse(local, headers=downloads.document_headers(document))
    return await downloads.stream_blob(
        request, blobs=env.blobs, document=document, transfer=transfer
    )
