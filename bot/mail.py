"""Mail as the fallback channel: plain-text messages over SMTP with aiosmtplib."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib

from bot import cabinet_texts, sign_texts
from bot.errors import PermanentFailure, TemporaryFailure, Unreachable
from bot.i18n import text, when
from bot.sign_texts import SignLinks
from workflows.outbox.kinds import Kind
from workflows.people.linking import Invitation
from workflows.portal.sessions import LINK_TTL, SignInLink
from workflows.sharing.cabinet_notices import CabinetNotice
from workflows.sharing.notices import AccessNotice, ShareNotice
from workflows.signing.party_notices import SignNotice


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None
    sender: str = "Inkpost <no-reply@localhost>"

    @classmethod
    def from_url(cls, url: str, *, sender: str | None) -> SmtpConfig:
        """``smtp://user:pass@host:587`` (STARTTLS when offered) or ``smtps://host:465``."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("INKPOST_SMTP_URL must look like smtp://user:password@host:port")
        secure = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if secure else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=secure,
            start_tls=None if not secure else False,
            sender=sender or f"Inkpost <no-reply@{parts.hostname}>",
        )


class _SmtpPolicy(EmailPolicy):
    """SMTP's policy, but a subject in another script is folded into encoded words that
    keep their spaces. Python's own folder (3.11) puts the space between two encoded
    words outside them, where RFC 2047 tells mail programs to drop it: "Law: Договор"
    arrived as "Law:Договор"."""

    def fold(self, name: str, value: str) -> str:
        return self._encoded(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        encoded = self._encoded(name, value)
        return encoded.encode("ascii") if encoded else super().fold_binary(name, value)

    def _encoded(self, name: str, value: str) -> str | None:
        if name.lower() != "subject" or str(value).isascii():
            return None
        words = Header(str(value), "utf-8", header_name=name).encode(linesep=self.linesep)
        return f"{name}: {words}{self.linesep}"


SMTP_POLICY = _SmtpPolicy(linesep="\r\n")
"""How mails are written for the SMTP server (``email.policy.SMTP`` with the fix above)."""


class MailSender:
    """Sends share and signing notices by mail; maps SMTP outcomes onto the delivery
    errors."""

    def __init__(self, config: SmtpConfig, *, tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.tls_context = tls_context

    def compose(self, notice: ShareNotice, *, link: str) -> EmailMessage:
        if notice.kind == Kind.AVAILABILITY_ENDING and notice.available_until is not None:
            return self.compose_reminder(notice, link=link)
        recipient = notice.recipient
        lang = recipient.language
        until = notice.available_until
        until_line = (
            text(
                lang,
                "email.until",
                escape=False,
                until=when(until, lang, organization=notice.organization),
            )
            if until
            else ""
        )
        message_line = (
            text(lang, "email.message", escape=False, message=notice.share.message)
            if notice.share.message
            else ""
        )
        values = {
            "org": notice.organization.name,
            "title": notice.document.title,
            "category": notice.document.category,
            "name": recipient.name,
        }
        return self._message(
            to=recipient.email,
            subject=text(lang, "email.subject", escape=False, **values),
            body=text(
                lang,
                "email.body",
                escape=False,
                link=link,
                until_line=until_line,
                message_line=message_line,
                **values,
            ),
            unsubscribe=notice.unsubscribe,
            lang=lang,
        )

    def compose_reminder(self, notice: ShareNotice, *, link: str) -> EmailMessage:
        """'You have not opened this yet, and it ends soon', with the personal link."""
        assert notice.available_until is not None
        lang = notice.recipient.language
        values = {
            "org": notice.organization.name,
            "title": notice.document.title,
            "name": notice.recipient.name,
            "until": when(notice.available_until, lang, organization=notice.organization),
        }
        return self._message(
            to=notice.recipient.email,
            subject=text(lang, "email.remind.subject", escape=False, **values),
            body=text(lang, "email.remind.body", escape=False, link=link, **values),
            unsubscribe=notice.unsubscribe,
            lang=lang,
        )

    def compose_access(self, notice: AccessNotice) -> EmailMessage:
        """'Your access ends soon'."""
        lang = notice.recipient.language
        values = {
            "org": notice.organization.name,
            "name": notice.recipient.name,
            "until": when(notice.expires_at, lang, organization=notice.organization),
        }
        return self._message(
            to=notice.recipient.email,
            subject=text(lang, "email.access.subject", escape=False, **values),
            body=text(lang, "email.access.body", escape=False, **values),
            unsubscribe=notice.unsubscribe,
            lang=lang,
        )

    def compose_cabinet(self, notice: CabinetNotice, *, link: str | None) -> EmailMessage:
        """News of the recipient's shared cabinet, with the link to a colleague's new
        document when they may open it."""
        return self._message(
            to=notice.recipient.email,
            subject=cabinet_texts.mail_subject(notice),
            body=cabinet_texts.mail_body(notice, link=link),
            unsubscribe=notice.unsubscribe,
            lang=notice.recipient.language,
        )

    def _message(
        self,
        *,
        to: str | None,
        subject: str,
        body: str,
        unsubscribe: str | None = None,
        lang: str | None = None,
    ) -> EmailMessage:
        """A plain-text mail; with ``unsubscribe``, the headers of a one-click unsubscribe
        (RFC 8058: mail programs show the button) and the same link under the text."""
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = to or ""
        message["Subject"] = " ".join(subject.split())
        if unsubscribe is not None:
            message["List-Unsubscribe"] = f"<{unsubscribe}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            footer = text(lang, "email.unsubscribe", escape=False, link=unsubscribe)
            body = f"{body.rstrip()}\n\n--\n{footer}\n"
        message.set_content(body)
        return message

    def compose_sign(self, notice: SignNotice, *, links: SignLinks | None) -> EmailMessage:
        """A signing notice as plain text: greeting, heading, lines, and the personal link."""
        lang = notice.language
        heading = sign_texts.heading(notice, escape=False)
        parts = [
            text(lang, "email.sign.greeting", escape=False, name=notice.name),
            heading,
            "\n".join(sign_texts.lines(notice, escape=False)),
        ]
        if links is not None:
            parts.append(text(lang, "email.sign.link", escape=False, link=links.page))
        if notice.code is not None:
            parts.append(text(lang, "email.sign.code_note", escape=False))
        subject = heading  # it names the request by its title
        return self._message(
            to=notice.email,
            subject=subject,
            body="\n\n".join(parts) + "\n",
            unsubscribe=notice.unsubscribe,
            lang=lang,
        )

    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]:
        if not notice.recipient.email:
            raise Unreachable("the recipient has no email address")
        return await self.send(self.compose(notice, link=link), to=notice.recipient.email)

    async def send_access_notice(self, notice: AccessNotice) -> dict[str, str]:
        if not notice.recipient.email:
            raise Unreachable("the recipient has no email address")
        return await self.send(self.compose_access(notice), to=notice.recipient.email)

    async def send_cabinet_notice(
        self, notice: CabinetNotice, *, link: str | None
    ) -> dict[str, str]:
        if not notice.recipient.email:
            raise Unreachable("the recipient has no email address")
        return await self.send(self.compose_cabinet(notice, link=link), to=notice.recipient.email)

    async def send_sign_notice(
        self, notice: SignNotice, *, links: SignLinks | None
    ) -> dict[str, str]:
        if notice.kind == Kind.SIGNED_FILE:
            raise PermanentFailure("signed PDFs are not mailed: the completion mail links to them")
        if not notice.email:
            raise Unreachable(f"{notice.name} has no email address")
        return await self.send(self.compose_sign(notice, links=links), to=notice.email)

    def compose_sign_in(self, link: SignInLink, *, url: str) -> EmailMessage:
        """'Here is your link to sign in', for ``LINK_TTL`` and once."""
        lang = link.recipient.language
        minutes = int(LINK_TTL.total_seconds() // 60)
        values = {"org": link.organization.name, "name": link.recipient.name}
        return self._message(
            to=link.recipient.email,
            subject=text(lang, "email.sign_in.subject", escape=False, **values),
            body=text(
                lang, "email.sign_in.body", escape=False, link=url, minutes=minutes, **values
            ),
        )

    async def send_sign_in(self, link: SignInLink, *, url: str) -> dict[str, str]:
        if not link.recipient.email:
            raise Unreachable("the recipient has no email address")
        return await self.send(self.compose_sign_in(link, url=url), to=link.recipient.email)

    def compose_invitation(
        self, invitation: Invitation, *, portal: str, home: str, telegram: str | None
    ) -> EmailMessage:
        """The organisation invites the recipient: what Inkpost is for them, the one-time
        link to their ``portal``, the Telegram link when there is one, and until when."""
        recipient, organization = invitation.recipient, invitation.organization
        lang = recipient.language
        org = organization.name
        until = when(invitation.expires_at, lang, organization=organization)
        contact = ", ".join(filter(None, (organization.contact_email, organization.contact_phone)))
        values = {"org": org, "name": recipient.name}
        return self._message(
            to=recipient.email,
            subject=text(lang, "invitation.subject", escape=False, **values),
            body=text(
                lang,
                "invitation.body",
                escape=False,
                portal=portal,
                home=home,
                telegram=text(lang, "invitation.telegram", escape=False, link=telegram)
                if telegram
                else "",
                until=text(
                    lang,
                    "invitation.until.both" if telegram else "invitation.until.one",
                    escape=False,
                    until=until,
                ),
                contact=text(lang, "invitation.contact", escape=False, org=org, contact=contact)
                if contact
                else "",
                **values,
            ),
        )

    async def send_invitation(
        self, invitation: Invitation, *, portal: str, home: str, telegram: str | None
    ) -> dict[str, str]:
        address = invitation.recipient.email
        if not address:
            raise PermanentFailure("the recipient has no email address")
        message = self.compose_invitation(invitation, portal=portal, home=home, telegram=telegram)
        try:
            return await self.send(message, to=address)
        except Unreachable as e:
            # An invitation is of no use later: it is not kept waiting for another channel.
            raise PermanentFailure(str(e)) from e

    async def send(self, message: EmailMessage, *, to: str) -> dict[str, str]:
        """Hand one message to the SMTP server; its answer becomes a delivery outcome."""
        try:
            errors, response = await aiosmtplib.send(
                message.as_bytes(policy=SMTP_POLICY),
                sender=parseaddr(self.config.sender)[1],
                recipients=[to],
                hostname=self.config.host,
                port=self.config.port,
                username=self.config.username,
                password=self.config.password,
                use_tls=self.config.use_tls,
                start_tls=self.config.start_tls,
                tls_context=self.tls_context,
                timeout=30,
            )
        except aiosmtplib.SMTPRecipientsRefused as e:
            raise Unreachable(f"the mail server refused {to}") from e
        except aiosmtplib.SMTPResponseException as e:
            if 500 <= e.code < 600:
                raise PermanentFailure(f"mail server answered {e.code}: {e.message}") from e
            raise TemporaryFailure(f"mail server answered {e.code}: {e.message}") from e
        except (aiosmtplib.SMTPException, OSError) as e:
            raise TemporaryFailure(f"mail could not be sent: {e}") from e
        if errors:
            raise Unreachable(f"the mail server refused {', '.join(errors)}")
        return {"smtp": response}
