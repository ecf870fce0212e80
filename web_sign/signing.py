"""A party's signing page: ``/s/{token}``, its documents, the one-time code, the decision.

Every form on the page carries a token derived from the link token with the server's
secret, checked on every POST before anything else. Forms post back to the page's own
address; a decision answers with a redirect to the page (so a reload does not post
again), a refused one with the page itself and the reason next to the form. The page
works without JavaScript; ``static/sign.js`` only adds the drawing pad and, inside the
Telegram Mini App, hands Telegram's launch data to the forms.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass, replace

from aiohttp import web
from multidict import MultiDictProxy

import texts
from storage.models import Document
from storage.rows import id_of
from web_sign import downloads
from web_sign.errors import page_for
from web_sign.pages import form_refused, page_language, render
from web_sign.portal_session import link_form_token
from web_sign.previews import PageOutOfRange, figures, preview_pages
from web_sign.security import form_token, visitor_of
from web_sign.state import ENV, PREVIEWS, SETTINGS, SIGNING, SigningConfig
from web_sign.telegram_auth import InitDataInvalid, validate_init_data
from web_sign.views import PREVIEW_CACHE
from workflows.context import Actor
from workflows.errors import InvalidInput, NotAllowed, NotFound, WorkflowError
from workflows.outbox.kinds import Via
from workflows.signing import deciding, identity, party_page
from workflows.signing.deciding import Decision
from workflows.signing.identity import Confirmed
from workflows.signing.party_page import PartyPage
from workflows.signing.requests import PENDING, title_for_parties

# Inside Telegram Web the Mini App is a frame of web.telegram.org; everywhere else the
# page may not be framed. Scripts only from our own static files.
SIGN_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'self' https://web.telegram.org; base-uri 'none'"
)
SIGN_HEADERS = {"Content-Security-Policy": SIGN_CSP, "X-Frame-Options": "SAMEORIGIN"}
SIGNATURE_DATA_URL = "data:image/png;base64,"
MAX_SIGNATURE_FIELD = len(SIGNATURE_DATA_URL) + (deciding.MAX_SIGNATURE_PNG * 4) // 3 + 4
KINDS = ("sign", "approve", "decline")
Form = MultiDictProxy[str | bytes | bytearray | web.FileField]

SESSION_COOKIE = "inkpost_party"
"""Holds the session opened where a party confirmed who they are; scoped to their link."""


@dataclass(frozen=True)
class Problem:
    """A refused form: which form it concerns, the message, and what was typed."""

    where: str
    """``page``, ``code``, ``decide`` or ``decline``."""
    message: str
    """In the reader's language."""
    typed_name: str = ""
    reason: str = ""


def add_routes(
    app: web.Application, *, secret_key: str | None, telegram_bot_token: str | None
) -> None:
    """The signing routes under ``/s/{token}``.

    Without ``secret_key`` the forms are keyed with a random secret of this process:
    fine for one process, but several behind a load balancer need the same key.
    """
    secret = secret_key.encode() if secret_key else secrets.token_bytes(32)
    app[SIGNING] = SigningConfig(form_secret=secret, telegram_bot_token=telegram_bot_token or None)
    doc = r"/s/{token}/doc/{document_id:\d{1,18}}"
    app.router.add_get("/s/{token}", sign_page, name="sign")
    app.router.add_post("/s/{token}/code", send_code, name="sign_code")
    app.router.add_post("/s/{token}/verify", verify_code, name="sign_verify")
    app.router.add_post("/s/{token}/decide", decide, name="sign_decide")
    app.router.add_get(doc, document_page, name="sign_document")
    app.router.add_get(doc + r"/page/{number:\d{1,6}}.png", page_image, name="sign_page_image")
    app.router.add_get(doc + "/file", document_file, name="sign_file")
    app.router.add_get(doc + "/signed", signed_file, name="sign_signed_file")


async def sign_page(request: web.Request) -> web.Response:
    """The request as this party sees it, and what they may do now."""
    token = request.match_info["token"]
    page = await _open(request, token)
    notice = None
    if request.query.get("telegram") == "unknown" and not page.verified:
        notice = texts.text(party_language(request, page), "signing.telegram_unknown", escape=False)
    return _page(request, token, page, notice=notice)


async def send_code(request: web.Request) -> web.Response:
    """Send a one-time code to the channel of whoever decides through this link."""
    token = request.match_info["token"]
    if await _checked_form(request) is None:
        return _form_refused(request)
    try:
        sent = await identity.send_code(request.app[ENV], token, ip=visitor_of(request).ip)
    except WorkflowError as e:
        return await _refused(request, token, e, where="code")
    minutes = int(identity.CODE_TTL.total_seconds() // 60)
    page = await _open(request, token)
    lang = party_language(request, page)
    if sent.channel == Via.EMAIL:
        where = texts.text(lang, "signing.code_sent.email", escape=False, to=sent.to)
    else:
        where = texts.text(lang, "signing.code_sent.telegram", escape=False)
    notice = f"{where} {texts.plural(lang, 'signing.code_valid', minutes)}"
    return _page(request, token, page, code_notice=notice)


async def verify_code(request: web.Request) -> web.StreamResponse:
    """Check the one-time code; once it is right, this browser (and no other) is offered
    the decision forms."""
    token = request.match_info["token"]
    form = await _checked_form(request)
    if form is None:
        return _form_refused(request)
    try:
        confirmed = await identity.confirm_code(
            request.app[ENV], token, _text(form, "code"), ip=visitor_of(request).ip
        )
    except WorkflowError as e:
        return await _refused(request, token, e, where="code")
    raise bind_session(request, web.HTTPSeeOther(_page_url(request, token)), token, confirmed)


def bind_session(
    request: web.Request, response: web.HTTPException, token: str, confirmed: Confirmed
) -> web.HTTPException:
    """``response`` carrying the cookie of the session just opened for ``token``'s party:
    sent back on that link's pages only, never readable by scripts, and gone when the
    session expires."""
    settings = request.app[SETTINGS]
    ttl = confirmed.expires_at - request.app[ENV].clock.now()
    response.set_cookie(
        SESSION_COOKIE,
        confirmed.token,
        path=_page_url(request, token),
        max_age=max(int(ttl.total_seconds()), 0),
        httponly=True,
        samesite="Lax",
        secure=settings.public_url.startswith("https://"),
    )
    return response


async def decide(request: web.Request) -> web.StreamResponse:
    """Sign, approve or decline; a repeat of the same decision lands on the same page."""
    env = request.app[ENV]
    token = request.match_info["token"]
    form = await _checked_form(request)
    if form is None:
        return _form_refused(request)
    kind = _text(form, "action")
    typed_name, reason = _text(form, "typed_name"), _text(form, "reason")
    where = "decline" if kind == "decline" else "decide"
    try:
        if kind not in KINDS:
            raise InvalidInput(
                "choose whether to decide in favour or to decline", says="signing.refusal.choose"
            )
        page = await _open(request, token)
        decision = Decision(
            kind=kind,
            reason=reason or None,
            typed_name=typed_name or None,
            consent=_text(form, "consent") == "yes",
            signature_png=_drawn_signature(_text(form, "signature")) if kind == "sign" else None,
            telegram_user_id=_telegram_user(request, page, _text(form, "tg_init_data")),
        )
        await deciding.decide(
            env, token, decision, actor=_actor(request, page), browser=_browser(request)
        )
    except NotFound:
        raise  # an unknown link: the friendly 404 page
    except WorkflowError as e:
        return await _refused(request, token, e, where=where, typed_name=typed_name, reason=reason)
    raise web.HTTPSeeOther(_page_url(request, token))


async def document_page(request: web.Request) -> web.Response:
    """One document of the request with all its page previews; opening it is recorded."""
    token, page, document = await _document(request)
    if request.method == "GET" and id_of(document) not in page.party.opened_documents:
        await party_page.record_opened(
            request.app[ENV], token, id_of(document), actor=_actor(request, page)
        )
    base = _page_url(request, token)
    doc_base = f"{base}/doc/{document.id}"
    language = party_language(request, page)
    shown = figures(document, f"{doc_base}/page", language)
    return render(
        request,
        "sign_document.html",
        lang=language,
        headers=SIGN_HEADERS,
        organization=page.organization,
        request_title=title_for_parties(page.request, page.state.documents),
        document=document,
        back_url=base,
        file_url=f"{doc_base}/file",
        figures=shown,
        total_pages=document.page_count,
        more_pages=bool(shown) and (document.page_count or 0) > len(shown),
    )


async def page_image(request: web.Request) -> web.StreamResponse:
    """A page of a request's document as a PNG; records nothing."""
    document = await party_page.document_of(
        request.app[ENV], request.match_info["token"], int(request.match_info["document_id"])
    )
    try:
        path = await request.app[PREVIEWS].page_png(document, int(request.match_info["number"]))
    except PageOutOfRange as e:
        raise web.HTTPNotFound() from e
    return web.FileResponse(
        path, headers={"Content-Type": "image/png", "Cache-Control": PREVIEW_CACHE}
    )


async def document_file(request: web.Request) -> web.StreamResponse:
    """The PDF itself; a GET from its first byte counts as opening it."""
    env = request.app[ENV]
    token, page, document = await _document(request)
    opened = id_of(document) in page.party.opened_documents
    if not opened and downloads.counted_before_lookup(request):
        await party_page.record_opened(env, token, id_of(document), actor=_actor(request, page))
    return await downloads.send_document(request, blobs=env.blobs, document=document)


async def signed_file(request: web.Request) -> web.StreamResponse:
    """The sealed PDF of a document, once the request is complete."""
    env = request.app[ENV]
    _, page, document = await _document(request)
    sealed = page.state.sealed.get(id_of(document))
    if sealed is None:
        raise NotFound("this document is not signed and sealed yet")
    return await downloads.send_document(request, blobs=env.blobs, document=sealed)


async def _document(request: web.Request) -> tuple[str, PartyPage, Document]:
    token = request.match_info["token"]
    page = await _open(request, token)
    wanted = int(request.match_info["document_id"])
    for document in page.state.documents:
        if document.id == wanted:
            return token, page, document
    raise NotFound(f"document {wanted} is not part of this request")


def _actor(request: web.Request, page: PartyPage) -> Actor:
    visitor = visitor_of(request)
    return party_page.party_actor(page, ip=visitor.ip, user_agent=visitor.user_agent)


def _browser(request: web.Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


async def _open(request: web.Request, token: str) -> PartyPage:
    """The party's page as this browser sees it: confirmed or not."""
    return await party_page.open_page(request.app[ENV], token, browser=_browser(request))


async def _checked_form(request: web.Request) -> Form | None:
    """The posted form if its token proves it came from this link's page, else None."""
    form = await request.post()
    expected = form_token(request.app[SIGNING].form_secret, request.match_info["token"])
    if not hmac.compare_digest(_text(form, "csrf").encode(), expected.encode()):
        return None
    return form


def _form_refused(request: web.Request) -> web.Response:
    return form_refused(request)


def _text(form: Form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _drawn_signature(value: str) -> bytes | None:
    """The PNG behind the drawing pad's data URL; None when nothing was drawn."""
    if not value:
        return None
    if len(value) > MAX_SIGNATURE_FIELD:
        raise InvalidInput(
            "the drawn signature is too large", says="signing.refusal.signature_too_large"
        )
    if not value.startswith(SIGNATURE_DATA_URL):
        raise InvalidInput(
            "the drawn signature is not a PNG image", says="signing.refusal.signature_not_png"
        )
    try:
        return base64.b64decode(value.removeprefix(SIGNATURE_DATA_URL), validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidInput(
            "the drawn signature could not be read", says="signing.refusal.signature_unreadable"
        ) from e


def _telegram_user(request: web.Request, page: PartyPage, init_data: str) -> int | None:
    """The Telegram user id to decide with, when the Mini App's launch data vouches for
    the person this link reaches; None outside the Mini App or for someone else."""
    bot_token = request.app[SIGNING].telegram_bot_token
    if not init_data or bot_token is None:
        return None
    try:
        launch = validate_init_data(
            init_data, bot_token=bot_token, now=request.app[ENV].clock.now()
        )
    except InitDataInvalid as e:
        raise NotAllowed(
            f"Telegram could not confirm who you are ({e}); reopen the app",
            says="signing.refusal.telegram_unconfirmed",
        ) from e
    return launch.user.id if identity.telegram_is_contact(page, launch.user.id) else None


async def _refused(
    request: web.Request,
    token: str,
    error: WorkflowError,
    *,
    where: str,
    typed_name: str = "",
    reason: str = "",
) -> web.Response:
    """The page again, with the reason — in the reader's language — beside the form that
    was refused, and what they typed kept."""
    page = await _open(request, token)
    told = sentence(error.told(party_language(request, page)))
    problem = Problem(where, told, typed_name=typed_name, reason=reason)
    return _page(request, token, page, problem=problem, status=page_for(error).status)


def party_language(request: web.Request, page: PartyPage) -> str:
    """The language of a party's pages: the one chosen on a page, else the language of
    whoever decides through the link (the recipient's, or the one the party was given),
    else the browser's wish, else English."""
    reader = page.contact.language if page.contact is not None else page.party.language
    return page_language(request, known=reader)


def _page(
    request: web.Request,
    token: str,
    page: PartyPage,
    *,
    problem: Problem | None = None,
    notice: str | None = None,
    code_notice: str | None = None,
    status: int = 200,
) -> web.Response:
    base = _page_url(request, token)
    settings = request.app[SIGNING]
    now = request.app[ENV].clock.now()
    lang = party_language(request, page)
    sign_request = page.request
    expired = sign_request.expires_at is not None and sign_request.expires_at <= now
    status_key = "expired" if expired and sign_request.status == PENDING else sign_request.status
    may_decide = page.may_decide and not expired
    needs_code = may_decide and page.code_owed and not page.verified
    forms = {"code"} if needs_code else {"decide", "decline"} if may_decide else set()
    if problem is not None and problem.where not in forms:
        problem = replace(problem, where="page")
    opened = set(page.party.opened_documents)
    cannot_send = identity.cannot_send(page)
    return render(
        request,
        "sign.html",
        status=status,
        lang=lang,
        # The switcher's "?lang=" links lead back to the page itself only from a GET: a
        # page answering a POST is at the form's address.
        switcher=request.method in ("GET", "HEAD"),
        headers=SIGN_HEADERS,
        page=page,
        organization=page.organization,
        sign_request=sign_request,
        request_title=title_for_parties(sign_request, page.state.documents),
        party=page.party,
        decision=page.decision,
        status_label=_status_label(lang, status_key, may_decide=may_decide),
        status_key=status_key,
        may_decide=may_decide,
        needs_code=needs_code,
        cannot_send=texts.text(
            lang, "signing.refusal.cannot_send", escape=False, org=page.organization.name
        )
        if cannot_send
        else None,
        code_channel=page.code_channel,
        documents=[
            DocumentItem(
                document=d,
                opened=d.id in opened,
                url=f"{base}/doc/{d.id}",
                thumbnail=f"{base}/doc/{d.id}/page/1.png" if preview_pages(d) else None,
                signed_url=f"{base}/doc/{d.id}/signed" if d.id in page.state.sealed else None,
            )
            for d in page.state.documents
        ],
        parties=[
            PartyRow(
                name=p.name,
                role=p.role,
                outcome=_outcome(page, p.id, lang=lang),
                is_you=p.id == page.party.id,
            )
            for p in page.state.parties
        ],
        base=base,
        csrf=form_token(settings.form_secret, token),
        portal_csrf=link_form_token(request, token) if page.contact is not None else None,
        problem=problem,
        notice=notice,
        code_notice=code_notice,
        now=now,
    )


def _status_label(lang: str, status_key: str, *, may_decide: bool) -> str:
    """Where the request stands, as its party would put it."""
    if status_key == PENDING:
        status_key = "yours" if may_decide else "others"
    return texts.text(lang, f"signing.state.{status_key}", escape=False)


@dataclass(frozen=True)
class DocumentItem:
    document: Document
    opened: bool
    url: str
    thumbnail: str | None
    signed_url: str | None = None
    """The sealed PDF, once the request is complete."""


@dataclass(frozen=True)
class PartyRow:
    name: str
    role: str
    """``signer``, ``approver`` or ``viewer``."""
    outcome: str
    is_you: bool


def _outcome(page: PartyPage, party_id: int | None, *, lang: str) -> str:
    decision = page.state.decisions.get(party_id) if party_id is not None else None
    if decision is not None:
        when = texts.when(decision.decided_at, lang)
        return texts.text(lang, f"signing.party.{decision.decision}", escape=False, when=when)
    party = next(p for p in page.state.parties if p.id == party_id)
    if party.role == "viewer":
        key = "copy"
    else:
        key = "waiting" if page.request.status == PENDING else "missed"
    return texts.text(lang, f"signing.party.{key}", escape=False)


def sentence(text: str) -> str:
    """A workflow message ('tick the box…') as a sentence: capitalised, full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _page_url(request: web.Request, token: str) -> str:
    return f"{request.app[SETTINGS].url_prefix}/s/{token}"
