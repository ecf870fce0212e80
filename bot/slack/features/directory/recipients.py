"""The directory's recipient forms: adding and editing a recipient, their spaces and groups,
and from their menu an invitation (by mail, or a Telegram link) and deleting them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.slack.blocks import Message
from bot.slack.features.directory import views
from bot.slack.features.directory.forms import FieldErrors, Form, change_notice, on_field
from bot.slack.features.directory.views import ListState, Modal, expiry_of, last_day, zone
from bot.slack.views import MAX_OPTIONS, sentence
from storage.models import Client, Recipient
from storage.rows import id_of
from workflows.context import Env
from workflows.errors import InvalidInput, NotFound
from workflows.people import linking, organizations, recipients, spaces
from workflows.people.recipients import UNSET
from workflows.people.staff import StaffContext, require_admin
from workflows.scope import clean_text, get_scoped

BotUsername = Callable[[], Awaitable[str]]
"""Says the Telegram bot's @username (the Bot API's getMe); raises Unavailable if it cannot."""


class RecipientForms:
    """The modals of a recipient's row and of Add recipient, and what saving them does."""

    def __init__(self, env: Env, *, telegram_username: BotUsername | None = None) -> None:
        self.env = env
        self.telegram_username = telegram_username

    async def invite(self, context: StaffContext, recipient_id: int) -> Message:
        """Send an invitation: by mail when it can go, else a fresh Telegram link to hand
        over (the bot's name is asked first, so a failure costs no working invitation)."""
        made = await linking.invite_recipient(
            context.env,
            org_id=context.org_id,
            actor=context.actor,
            recipient_id=recipient_id,
            bot_name=self.telegram_username,
        )
        link = f"https://t.me/{made.bot}?start={made.code}" if made.code else None
        return views.invite_message(made, link=link, telegram=self.telegram_username is not None)

    async def delete_prompt(
        self, context: StaffContext, recipient_id: int, state: ListState
    ) -> Message:
        """Ask before deleting, or say what the recipient holds that must be kept."""
        require_admin(context, to="delete recipients")
        recipient = await recipients.get_recipient(
            context.env, org_id=context.org_id, recipient_id=recipient_id
        )
        holdings = await recipients.recipient_holdings(
            context.env, org_id=context.org_id, recipient_id=recipient_id
        )
        return views.delete_prompt(recipient, holdings, state)

    async def delete(self, context: StaffContext, recipient_id: int) -> str:
        require_admin(context, to="delete recipients")
        gone = await recipients.delete_recipient(
            context.env, org_id=context.org_id, actor=context.actor, recipient_id=recipient_id
        )
        return f"Deleted {gone.name}; their history stays."

    async def add_modal(self, context: StaffContext, modal: Modal) -> Message:
        language = context.organization.default_language
        if language not in recipients.LANGUAGES:
            language = recipients.LANGUAGES[0]
        return views.recipient_modal(
            modal, recipient=None, client=None, language=language, expiry_day=None
        )

    async def edit_modal(self, context: StaffContext, modal: Modal) -> Message:
        recipient, client = await self._recipient(context, modal)
        tz = zone(context.organization.timezone)
        expires = recipient.access_expires_at
        return views.recipient_modal(
            modal,
            recipient=recipient,
            client=client,
            language=recipient.language,
            expiry_day=last_day(expires, tz) if expires else None,
        )

    async def _recipient(self, context: StaffContext, modal: Modal) -> tuple[Recipient, Client]:
        """The recipient a modal is about, and their client, if both are this organisation's."""
        assert modal.id is not None
        async with context.env.reads() as session:
            recipient = await get_scoped(
                session, Recipient, org_id=context.org_id, id=modal.id, what="recipient"
            )
            client = await get_scoped(
                session, Client, org_id=context.org_id, id=recipient.client_id, what="client"
            )
        if recipient.status == "deleted":
            raise NotFound(f"recipient {recipient.name} was removed")
        return recipient, client

    async def save(self, context: StaffContext, modal: Modal, form: Form) -> str:
        if modal.id is None:
            return await self._add_recipient(context, modal, form)
        return await self._edit_recipient(context, modal, form)

    def _details(self, context: StaffContext, form: Form) -> dict[str, Any]:
        """The recipient fields common to adding and editing, each checked on its own."""
        tz = zone(context.organization.timezone)
        day = form.day(views.EXPIRY)
        expires = expiry_of(day, tz) if day else None
        if expires is not None and expires <= context.env.clock.now():
            form.errors[views.EXPIRY] = "Pick today or a later day"
        return {
            "name": form.check(
                views.NAME, lambda: clean_text(form.text(views.NAME), what="name", max_len=200)
            ),
            "email": form.check(
                views.EMAIL, lambda: organizations.check_email(form.text(views.EMAIL))
            ),
            "phone": form.check(
                views.PHONE, lambda: recipients.check_phone(form.text(views.PHONE))
            ),
            "language": form.check(
                views.LANGUAGE, lambda: recipients.check_language(form.choice(views.LANGUAGE) or "")
            ),
            "day": day,
            "access_expires_at": expires,
        }

    async def _add_recipient(self, context: StaffContext, modal: Modal, form: Form) -> str:
        details = self._details(context, form)
        client_id = form.id_of(views.CLIENT, form.choice(views.CLIENT), what="client")
        if client_id is None:
            form.errors.setdefault(views.CLIENT, "Choose the client this person belongs to")
        form.done()
        assert client_id is not None
        added = await on_field(
            views.CLIENT,
            recipients.add_recipient(
                context.env,
                org_id=context.org_id,
                actor=context.actor,
                client_id=client_id,
                name=details["name"],
                email=details["email"],
                phone=details["phone"],
                language=details["language"],
                access_expires_at=details["access_expires_at"],
            ),
        )
        return f"Added {added.name}. Use Send invitation in their menu to invite them."

    async def _edit_recipient(self, context: StaffContext, modal: Modal, form: Form) -> str:
        details = self._details(context, form)
        form.done()
        recipient, _ = await self._recipient(context, modal)
        tz = zone(context.organization.timezone)
        changes: dict[str, Any] = {
            field: details[field]
            for field in ("name", "email", "phone", "language")
            if details[field] != getattr(recipient, field)
        }
        current = recipient.access_expires_at
        if details["day"] != (last_day(current, tz) if current else None):
            changes["access_expires_at"] = details["access_expires_at"]
        if not changes:
            return f"Nothing changed for {recipient.name}."
        edited = await on_field(
            views.NAME,
            recipients.edit_recipient(
                context.env,
                org_id=context.org_id,
                actor=context.actor,
                recipient_id=id_of(recipient),
                name=changes.get("name"),
                email=changes.get("email", UNSET),
                phone=changes.get("phone", UNSET),
                language=changes.get("language"),
                access_expires_at=changes.get("access_expires_at", UNSET),
            ),
        )
        return f"Saved {edited.name}."

    async def places_modal(self, context: StaffContext, modal: Modal) -> Message:
        recipient, _ = await self._recipient(context, modal)
        memberships = await spaces.memberships_of(
            context.env, org_id=context.org_id, recipient_id=id_of(recipient)
        )
        if max(len(memberships.spaces), len(memberships.groups)) > MAX_OPTIONS:
            raise InvalidInput(
                f"{recipient.name} is in more than {MAX_OPTIONS} spaces or groups; "
                "change them from each space or group"
            )
        return views.places_modal(
            modal, recipient=recipient, memberships=memberships, admin=context.is_admin
        )

    async def save_places(self, context: StaffContext, modal: Modal, form: Form) -> str:
        if views.SPACES in form.values and not context.is_admin:
            form.errors[views.SPACES] = "Only administrators may change spaces"
        space_ids = form.ids(views.SPACES, what="space") if context.is_admin else None
        group_ids = form.ids(views.GROUPS, what="group")
        form.done()
        assert modal.id is not None
        try:
            change = await spaces.set_memberships(
                context.env,
                org_id=context.org_id,
                actor=context.actor,
                recipient_id=modal.id,
                space_ids=space_ids,
                group_ids=group_ids,
            )
        except NotFound as error:
            block = views.SPACES if str(error).startswith("space") else views.GROUPS
            raise FieldErrors({block: sentence(str(error))}) from error
        return change_notice(change, nothing="No spaces or groups changed.")
