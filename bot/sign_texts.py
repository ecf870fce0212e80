"""The words of a signing notice, shared by the Telegram and mail renderings: a heading
and the lines under it, in the party's language. Telegram takes them HTML-escaped, mail
as plain text."""

from __future__ import annotations

import html
from dataclasses import dataclass

import texts
from bot.i18n import text, when
from workflows.outbox.kinds import Kind
from workflows.signing import identity, requests
from workflows.signing.party_notices import SignNotice

CODE_MINUTES = int(identity.CODE_TTL.total_seconds() // 60)


@dataclass(frozen=True)
class SignLinks:
    """Where the notice sends its reader: their page, and the Mini App that opens it inside
    Telegram when the installation can serve one (HTTPS only)."""

    page: str
    app: str | None = None


def heading(notice: SignNotice, *, escape: bool) -> str:
    """What the notice is about, naming the request as its party knows it: by its title
    (references like S-4 are for staff)."""
    return text(notice.language, _heading_key(notice), escape=escape, **_names(notice))


def _heading_key(notice: SignNotice) -> str:
    if notice.kind == Kind.SIGN_INVITE:
        return f"sign.heading.invite.{notice.party.role}"
    if notice.kind == Kind.SIGN_REMINDER:
        return f"sign.heading.remind.{notice.party.role}"
    if notice.kind == Kind.SIGN_CODE:
        return "sign.heading.code"
    if notice.kind == Kind.SIGN_COMPLETED:
        return "sign.heading.completed"
    return f"sign.heading.{notice.status}"


def _names(notice: SignNotice) -> dict[str, object]:
    title = requests.title_for_parties(notice.request, notice.documents)
    return {"org": notice.organization.name, "title": title}


def lines(notice: SignNotice, *, escape: bool) -> list[str]:
    """What follows the heading. In HTML (``escape``) the one-time code is set as code,
    which Telegram copies with one tap."""
    lang = notice.language

    def say(key: str, **values: object) -> str:
        return text(lang, key, escape=escape, **values)

    if notice.kind == Kind.SIGN_CODE:
        code = notice.code or ""
        shown = f"<code>{html.escape(code)}</code>" if escape else code
        return [
            text(lang, "sign.line.code", escape=False, code=shown),
            texts.plural(lang, "sign.line.code_expires", CODE_MINUTES),
        ]
    if notice.kind in (Kind.SIGN_INVITE, Kind.SIGN_REMINDER):
        out = [say("sign.line.documents", titles=", ".join(d.title for d in notice.documents))]
        if notice.sent_by:
            out.append(say("sign.line.from", staff=notice.sent_by))
        if notice.request.message:
            out.append(say("sign.line.message", message=notice.request.message))
        if notice.request.expires_at is not None and notice.party.role != "viewer":
            until = when(notice.request.expires_at, lang, organization=notice.organization)
            out.append(say("sign.line.until", until=until))
        return out
    if notice.kind == Kind.SIGN_COMPLETED:
        return [say("sign.line.completed")]
    out = []
    if notice.declined_by:
        out.append(
            say("sign.line.declined_by", name=notice.declined_by, reason=notice.reason or "")
        )
    elif notice.reason:
        out.append(say("sign.line.reason", reason=notice.reason))
    out.append(say("sign.line.ended"))
    return out
