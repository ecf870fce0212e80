"""The recipient's portal at ``/me`` once signed in (`web_sign.portal_session`): their
documents, spaces and signature requests, sending a document back, and their notification
and language choices; and the one-click unsubscribe link every notification mail carries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

from aiohttp import BodyPartReader, MultipartReader, web

import texts
from storage.rows import id_of
from web_sign import portal_session, portal_telegram
from web_sign.pages import form_refused, render
from web_sign.portal_session import matches, posted, required, session_token, url
from web_sign.security import visitor_of
from web_sign.state import ENV
from workflows.errors import InvalidInput, WorkflowError
from workflows.outbox.kinds import Preference, Via
from workflows.people import preferences
from workflows.portal import documents, sessions
from workflows.portal import requests as portal_requests
from workflows.portal.documents import Filters
from workflows.portal.sessions import Portal
from workflows.sharing import inbox

CHUNK = 64 * 1024
FIELD_LIMIT = 1000
"""How much of a form's text field is read: a title, a token."""
MAX_FILENAME = 255
NOTICES = {"sent": "portal.notice.sent", "saved": "portal.notice.saved"}
"""The line a page shows after a form (by its query flag): keys of the catalogues."""


def add_routes(app: web.Application) -> None:
    app.router.add_get("/me", home, name="portal")
    app.router.add_get(r"/me/documents/{share_id:\d{1,18}}", open_document, name="portal_open")
    app.router.add_get(r"/me/requests/{party_id:\d{1,18}}", open_request, name="portal_request")
    app.router.add_post("/me/return", send_back, name="portal_return")
    app.router.add_post("/me/notifications", save_notifications, name="portal_notifications")
    app.router.add_post("/me/language", save_language, name="portal_language")
    app.router.add_get("/me/unsubscribe/{token}", unsubscribe_page, name="portal_unsubscribe")
    app.router.add_post("/me/unsubscribe/{token}", unsubscribe, name="portal_unsubscribed")
    portal_session.add_routes(app)
    portal_telegram.add_routes(app)


async def home(request: web.Request) -> web.StreamResponse:
    """The recipient's documents, newest first, as the query narrows them."""
    portal = await required(request)
    flag = next((k for k in NOTICES if request.query.get(k) == "1"), None)
    notice = _t(portal, NOTICES[flag]) if flag else None
    return await _home(request, portal, notice=notice)


async def _home(
    request: web.Request,
    portal: Portal,
    *,
    status: int = 200,
    notice: str | None = None,
    problem: str | None = None,
) -> web.Response:
    query = request.query
    filters = Filters(
        words=query.get("q", "").strip(),
        space_id=_number(query.get("space")),
        category=query.get("category") or None,
        unopened=query.get("unopened") == "1",
        only_mine=query.get("mine") == "1",
        colleague=query.get("colleague", "").strip(),
    )
    listing = await documents.documents(
        request.app[ENV], portal, filters=filters, page=_number(query.get("page")) or 1
    )
    kept = {k: v for k, v in query.items() if k not in ("page", *NOTICES) and v}
    return render(
        request,
        "portal.html",
        lang=portal.recipient.language,
        switcher=False,
        status=status,
        portal=portal,
        listing=listing,
        asked=await portal_requests.requests_of(request.app[ENV], portal),
        request_url=lambda party_id: url(request, f"/me/requests/{party_id}"),
        return_url=url(request, "/me/return"),
        limit=texts.size(request.app[ENV].limits.max_upload_bytes, portal.recipient.language),
        notice=notice,
        problem=problem,
        kinds=_kinds(portal),
        channels=_channels(portal),
        wants=preferences.wants,
        languages=texts.NAMES,
        notifications_url=url(request, "/me/notifications"),
        language_url=url(request, "/me/language"),
        filters=filters,
        page_url=lambda page: url(request, "/me?" + urlencode({**kept, "page": page})),
        document_url=lambda share_id: url(request, f"/me/documents/{share_id}"),
        space_url=lambda space_id: url(request, "/me?" + urlencode({"space": space_id})),
        home_url=url(request, "/me"),
        sign_out_url=url(request, "/me/sign-out"),
        csrf=session_token(request),
    )


async def open_document(request: web.Request) -> web.StreamResponse:
    """A document of theirs, on its usual page (where the visit is recorded as theirs)."""
    portal = await required(request)
    share_id = int(request.match_info["share_id"])
    token = await documents.open_document(request.app[ENV], portal, share_id=share_id)
    raise web.HTTPSeeOther(url(request, f"/d/{token}"))


async def open_request(request: web.Request) -> web.StreamResponse:
    """A signature request of theirs, on its signing page."""
    portal = await required(request)
    party_id = int(request.match_info["party_id"])
    token = await portal_requests.open_request(request.app[ENV], portal, party_id=party_id)
    raise web.HTTPSeeOther(url(request, f"/s/{token}"))


async def send_back(request: web.Request) -> web.StreamResponse:
    """A document sent back from the browser: checked as every upload is, and the staff
    who last shared with the recipient are told. The form's token comes before the file,
    so a forged form is refused before a byte of the file is read."""
    portal = await required(request)
    if request.content_type != "multipart/form-data":
        return await _home(request, portal, status=400, problem=_t(portal, "portal.return.no_file"))
    reader = await request.multipart()
    csrf = await _field(reader, "csrf")
    if not matches(csrf, session_token(request)):
        form_refused(request)
    title = await _field(reader, "title")
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != "file" or not part.filename:
        return await _home(request, portal, status=400, problem=_t(portal, "portal.return.no_file"))
    try:
        await inbox.return_from(
            request.app[ENV],
            portal.recipient,
            filename=part.filename[:MAX_FILENAME],
            content=_chunks(part),
            caption=title,
            actor=sessions.recipient_actor(portal.recipient, visitor_of(request)),
        )
    except WorkflowError as error:
        return await _home(
            request, portal, status=400, problem=error.told(portal.recipient.language)
        )
    raise web.HTTPSeeOther(url(request, "/me?sent=1"))


async def save_notifications(request: web.Request) -> web.StreamResponse:
    """Which kinds of notification go by which channel: every box of the form at once."""
    portal = await required(request)
    form = await posted(request, session_token(request))
    chosen = set(form.getall("on", []))
    choices = {
        (channel, kind.value): f"{channel.value}:{kind.value}" in chosen
        for channel in _channels(portal)
        for kind in _kinds(portal)
    }
    await preferences.set_preferences(
        request.app[ENV],
        recipient_id=id_of(portal.recipient),
        org_id=portal.org_id,
        actor=sessions.recipient_actor(portal.recipient, visitor_of(request)),
        choices=choices,
    )
    raise web.HTTPSeeOther(url(request, "/me?saved=1"))


async def save_language(request: web.Request) -> web.StreamResponse:
    portal = await required(request)
    form = await posted(request, session_token(request))
    try:
        await preferences.set_language(
            request.app[ENV],
            recipient_id=id_of(portal.recipient),
            org_id=portal.org_id,
            actor=sessions.recipient_actor(portal.recipient, visitor_of(request)),
            language=str(form.get("language") or ""),
        )
    except InvalidInput as error:
        return await _home(
            request, portal, status=400, problem=error.told(portal.recipient.language)
        )
    raise web.HTTPSeeOther(url(request, "/me?saved=1"))


def _kinds(portal: Portal) -> list[Preference]:
    """The kinds of notification the recipient can get: news of the cabinet only in one."""
    shared = portal.client.shared_cabinet
    return [kind for kind in preferences.KINDS if shared or kind is not Preference.CABINET]


def _t(portal: Portal, key: str) -> str:
    return texts.text(portal.recipient.language, key, escape=False)


def _channels(portal: Portal) -> list[Via]:
    """The channels the recipient can choose for: mail, and Telegram once linked."""
    shown = [Via.EMAIL]
    if portal.recipient.telegram_chat_id is not None:
        shown.insert(0, Via.TELEGRAM)
    return shown


async def unsubscribe_page(request: web.Request) -> web.Response:
    """The page an unsubscribe link opens: one button turns the mails off (opening the
    link alone, as a mail scanner does, changes nothing)."""
    target = await preferences.unsubscribe_target(request.app[ENV], request.match_info["token"])
    return render(
        request,
        "portal_unsubscribe.html",
        lang=target.recipient.language,
        target=target,
        kind=texts.text(target.recipient.language, f"notifications.kind.{target.kind}"),
        action=url(request, f"/me/unsubscribe/{request.match_info['token']}"),
        done=False,
        portal_url=url(request, "/me"),
    )


async def unsubscribe(request: web.Request) -> web.Response:
    """Turn the link's kind of mail off: from the page's button, or in one click from the
    mail program (RFC 8058), which posts ``List-Unsubscribe=One-Click`` without cookies.
    The link's own unguessable token is what authorises it."""
    target = await preferences.unsubscribe(request.app[ENV], request.match_info["token"])
    return render(
        request,
        "portal_unsubscribe.html",
        lang=target.recipient.language,
        target=target,
        kind=texts.text(target.recipient.language, f"notifications.kind.{target.kind}"),
        action="",
        done=True,
        portal_url=url(request, "/me"),
    )


async def _field(reader: MultipartReader, name: str) -> str | None:
    """The next part's text if it is the field ``name``; None otherwise."""
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != name:
        return None
    value = await part.read(decode=False)
    return value[:FIELD_LIMIT].decode("utf-8", "replace")


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None
