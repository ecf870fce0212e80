"""The words of a signing notice, shared by the Telegram and mail renderings: a heading
and the lines under it, in the party's language. Telegram takes them HTML-escaped, mail
as plain text."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

from bot.i18n import text
from workflows.outbox.kinds import Kind
from workflows.signing import identity
from workflows.signing.party_notices import SignNotice

CODE_MINUTES = int(identity.CODE_TTL.total_seconds() // 60)


@dataclass(frozen=True)
class SignLinks:
    """Where the notice sends its reader: their page, and the Mini App that opens it inside
    Telegram when the installation can serve one (HTTPS only)."""

    page: str
    app: str | None = None


def when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def heading(notice: SignNotice, *, escape: bool) -> str:
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
    return {"org": notice.organization.name, "ref": notice.request.ref}


def lines(notice: SignNotice, *, escape: bool) -> list[str]:
    """What follows the heading. In HTML (``escape``) the one-time code is set as code,
    which Telegram copies with one tap."""
    lang = notice.language

    def say(key: str, **values: object) -> str:
        return text(lang, key, escape=escape, **values)

    out = [say("sign.line.title", title=notice.request.title)]
    if notice.kind == Kind.SIGN_CODE:
        code = notice.code or ""
        shown = f"<code>{html.escape(code)}</code>" if escape else code
        return [
            text(lang, "sign.line.code", escape=False, code=shown),
            *out,
            say("sign.line.code_expires", minutes=CODE_MINUTES),
        ]
    if notice.kind in (Kind.SIGN_INVITE, Kind.SIGN_REMINDER):
        out.append(say("sign.line.documents", titles=", ".join(d.title for d in notice.documents)))
        if notice.sent_by:
            out.append(say("sign.line.from", staff=notice.sent_by))
        if notice.request.message:
            out.append(say("sign.line.message", message=notice.request.message))
        if notice.request.expires_at is not None and notice.party.role != "viewer":
            out.append(say("sign.line.until", until=when(notice.request.expires_at)))
        return out
    if notice.kind == Kind.SIGN_COMPLETED:
        return [*out, say("sign.line.completed")]
    if notice.declined_by:
        out.append(
            say("sign.line.declined_by", name=notice.declined_by, reason=notice.reason or "")
        )
    elif notice.reason:
        out.append(say("sign.line.reason", reason=notice.reason))
    out.append(say("sign.line.ended"))
    return out
