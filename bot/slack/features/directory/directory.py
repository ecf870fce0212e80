"""The directory in Slack: `/inkpost recipients`, `groups`, `spaces` and `clients`.

Each list is an ephemeral message whose buttons add, edit, invite, block, delete and
assign; forms are modals whose refusals appear on their fields. Every change is one
workflow call; role rules the workflows leave to their callers are kept here: only
administrators manage spaces and delete anything. The lists, the listeners and the client
forms live here; the recipient forms in `bot.slack.features.directory.recipients`, the
group and space forms in `bot.slack.features.directory.collections`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import Message
from bot.slack.feature import Call, Subcommand, Usage, Who
from bot.slack.features.directory import pickers, views
from bot.slack.features.directory.collections import CollectionForms, collection_kind
from bot.slack.features.directory.forms import (
    FieldErrors,
    Form,
    on_field,
    parse_modal,
    parse_state,
    parse_target,
    target_of,
    words_of,
)
from bot.slack.features.directory.recipients import BotUsername, RecipientForms
from bot.slack.features.directory.views import (
    CollectionRow,
    ListState,
    Modal,
    RecipientRow,
    paginate,
    zone,
)
from bot.slack.listeners import RefusingApp, staff_of, tell, who_of
from bot.slack.views import MAX_OPTIONS
from storage.models import Client, Group, Recipient, Space
from storage.rows import id_of
from workflows.context import Env
from workflows.errors import InvalidInput
from workflows.people import groups, organizations, recipients, spaces
from workflows.people.staff import StaffContext
from workflows.scope import clean_text, get_scoped

SAMPLE_NAMES = 5
log = logging.getLogger(__name__)


class Directory:
    """Recipients, groups, spaces and clients: their lists, forms and row actions."""

    usage = (
        Usage(
            "recipients [WORDS]",
            "people at clients: add, edit, invite, block, delete, spaces and groups",
            "/inkpost recipients berg",
        ),
        Usage("groups", "groups of recipients for bulk sharing", "/inkpost groups"),
        Usage("spaces", "client panels and who is in them", "/inkpost spaces"),
        Usage("clients", "client files and their shared cabinets", "/inkpost clients"),
    )

    def __init__(self, env: Env, *, telegram_username: BotUsername | None = None) -> None:
        self.env = env
        self.recipient_forms = RecipientForms(env, telegram_username=telegram_username)
        self.collection_forms = CollectionForms(env)

    def subcommands(self) -> Mapping[str, Subcommand]:
        def lister(kind: str) -> Subcommand:
            async def list_(call: Call) -> Message:
                return await self.first_page(call.who, kind, call.args)

            return list_

        return {kind: lister(kind) for kind in views.LISTS}

    async def first_page(self, who: Who, kind: str, args: str) -> Message:
        context = await staff_of(self.env, who)
        if kind != "recipients" and args.strip():
            raise InvalidInput(f"`/inkpost {kind}` takes no words; the list shows them all")
        return await self.show(context, ListState(kind, 1, words_of(args)))

    # -- lists ----------------------------------------------------------------------------

    async def show(
        self, context: StaffContext, state: ListState, notice: str | None = None
    ) -> Message:
        """The list ``state`` names, as it is now."""
        if state.kind == "recipients":
            return await self._recipients(context, state, notice)
        if state.kind == "clients":
            found = await organizations.list_clients(context.env, org_id=context.org_id)
            return views.clients_message(paginate(found, state), state, notice=notice)
        return await self._collections(context, state, notice)

    async def _recipients(
        self, context: StaffContext, state: ListState, notice: str | None
    ) -> Message:
        clients = {
            c.id: c.name
            for c in await organizations.list_clients(context.env, org_id=context.org_id)
        }
        people = await recipients.list_recipients(context.env, org_id=context.org_id)
        rows = [RecipientRow(r, clients.get(r.client_id, "?")) for r in people]
        wanted = state.words.lower().split()
        if wanted:
            rows = [row for row in rows if all(w in _haystack(row) for w in wanted)]
        page = paginate(rows, state)
        return views.recipients_message(
            page,
            state,
            now=context.env.clock.now(),
            tz=zone(context.organization.timezone),
            notice=notice,
            can_delete=context.is_admin,
        )

    async def _collections(
        self, context: StaffContext, state: ListState, notice: str | None
    ) -> Message:
        kind = collection_kind(state)
        org_id = context.org_id
        summaries: list[tuple[Group | Space, int]]
        if kind == "group":
            summaries = [
                (g.group, g.members) for g in await groups.list_groups(context.env, org_id=org_id)
            ]
        else:
            summaries = [
                (s.space, s.members) for s in await spaces.list_spaces(context.env, org_id=org_id)
            ]
        page = paginate(summaries, state)
        rows = []
        for item, count in page.items:
            members = await self._members(context, kind, id_of(item))
            rows.append(CollectionRow(item, count, [m.name for m in members[:SAMPLE_NAMES]]))
        shown = views.Page(rows, page.number, page.pages, page.total, page.first)
        can_edit = kind == "group" or context.is_admin
        return views.collections_message(
            kind, shown, state, can_edit=can_edit, can_delete=context.is_admin, notice=notice
        )

    async def _members(self, context: StaffContext, kind: str, item_id: int) -> Sequence[Recipient]:
        env, org_id = context.env, context.org_id
        if kind == "group":
            return await groups.list_group_members(env, org_id=org_id, group_id=item_id)
        return await spaces.space_members(env, org_id=org_id, space_id=item_id)

    # -- listeners ------------------------------------------------------------------------

    def register(self, app: RefusingApp) -> None:
        people, collections = self.recipient_forms, self.collection_forms
        for action_id in (views.PAGE_PREVIOUS, views.PAGE_NEXT, views.BACK_TO_LIST):
            app.action(action_id)(self._on_page)
        app.action(views.RECIPIENT_MENU)(self._on_recipient_menu)
        app.action(views.RECIPIENT_DELETE)(self._on_recipient_delete)
        app.action(views.RECIPIENT_ADD)(self._on_open(people.add_modal))
        app.action(views.COLLECTION_ADD)(self._on_open(collections.add_modal))
        app.action(views.COLLECTION_MEMBERS)(self._on_open(collections.members_modal))
        app.action(views.CLIENT_ADD)(self._on_open(self._client_modal))
        app.action(views.CLIENT_EDIT)(self._on_open(self._client_modal))
        app.action(views.COLLECTION_DELETE)(self._on_delete)
        for callback_id, save in (
            (views.RECIPIENT_FORM, people.save),
            (views.PLACES_FORM, people.save_places),
            (views.COLLECTION_FORM, collections.save),
            (views.MEMBERS_FORM, collections.save_members),
            (views.CLIENT_FORM, self._save_client),
        ):
            app.view(callback_id)(self._on_submit(save))
        for action_id, offer in (
            (views.PICK_CLIENT, pickers.offer_clients),
            (views.PICK_RECIPIENTS, pickers.offer_recipients),
            (views.PICK_MEMBERS, pickers.offer_members),
            (views.PICK_SPACES, pickers.offer_spaces),
            (views.PICK_GROUPS, pickers.offer_groups),
        ):
            app.options(action_id)(self._on_suggest(offer))

    async def _on_page(
        self, ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
    ) -> None:
        await ack()
        staff_context = await staff_of(self.env, who_of(context, body))
        message = await self.show(staff_context, parse_state(_action_value(body)))
        await respond(replace_original=True, **message)

    async def _on_recipient_menu(
        self,
        ack: AsyncAck,
        respond: AsyncRespond,
        body: dict[str, Any],
        context: Any,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        staff_context = await staff_of(self.env, who_of(context, body))
        state, do, recipient_id = parse_target(_action_value(body))
        if do in ("block", "unblock"):
            changed = await recipients.set_recipient_blocked(
                staff_context.env,
                org_id=staff_context.org_id,
                actor=staff_context.actor,
                recipient_id=recipient_id,
                blocked=do == "block",
            )
            notice = f"{changed.name} is {'blocked' if do == 'block' else 'unblocked'}."
            message = await self.show(staff_context, state, notice)
            await respond(replace_original=True, **message)
        elif do == "invite":
            await tell(respond, await self.recipient_forms.invite(staff_context, recipient_id))
        elif do == "delete":
            prompt = await self.recipient_forms.delete_prompt(staff_context, recipient_id, state)
            await respond(replace_original=True, **prompt)
        elif do in ("edit", "places"):
            modal = Modal(state, str(body.get("response_url") or ""), recipient_id)
            forms = self.recipient_forms
            build = forms.edit_modal if do == "edit" else forms.places_modal
            view = await build(staff_context, modal)
            await client.views_open(trigger_id=body["trigger_id"], view=view)
        else:
            raise InvalidInput("this menu does not offer that")

    async def _on_recipient_delete(
        self, ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
    ) -> None:
        await ack()
        staff_context = await staff_of(self.env, who_of(context, body))
        state, _, recipient_id = parse_target(_action_value(body))
        notice = await self.recipient_forms.delete(staff_context, recipient_id)
        message = await self.show(staff_context, state, notice)
        await respond(replace_original=True, **message)

    def _on_open(
        self, build: Callable[[StaffContext, Modal], Awaitable[Message]]
    ) -> Callable[..., Awaitable[None]]:
        """A button that opens a modal built by ``build``, or says why it cannot (`refuse`)."""

        async def open_(
            ack: AsyncAck, body: dict[str, Any], context: Any, client: AsyncWebClient
        ) -> None:
            await ack()
            staff_context = await staff_of(self.env, who_of(context, body))
            raw = _action_value(body)
            modal = Modal(parse_state(raw), str(body.get("response_url") or ""), target_of(raw))
            view = await build(staff_context, modal)
            await client.views_open(trigger_id=body["trigger_id"], view=view)

        return open_

    async def _on_delete(
        self, ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
    ) -> None:
        await ack()
        staff_context = await staff_of(self.env, who_of(context, body))
        state, _, item_id = parse_target(_action_value(body))
        kind = collection_kind(state)
        notice = await self.collection_forms.delete(staff_context, kind, item_id)
        message = await self.show(staff_context, state, notice)
        await respond(replace_original=True, **message)

    def _on_submit(
        self, save: Callable[[StaffContext, Modal, Form], Awaitable[str | None]]
    ) -> Callable[..., Awaitable[None]]:
        """A modal's submission: errors on the fields they are about (a refusal of the whole
        form on its first field, `refuse`), or close it and redraw its list."""

        async def submit(ack: AsyncAck, body: dict[str, Any], context: Any) -> None:
            view = body["view"]
            staff_context = await staff_of(self.env, who_of(context, body))
            modal = parse_modal(str(view.get("private_metadata") or ""))
            try:
                notice = await save(staff_context, modal, Form(view["state"]["values"]))
            except FieldErrors as error:
                await ack(response_action="errors", errors=error.errors)
                return
            await ack()
            if modal.response_url:
                message = await self.show(staff_context, modal.state, notice)
                await _redraw(modal.response_url, message)

        return submit

    def _on_suggest(self, offer: pickers.Offer) -> Callable[..., Awaitable[None]]:
        """An external select's options: what matches the typed text, in this organisation;
        nothing for anyone who is not staff (`refuse`)."""

        async def suggest(ack: AsyncAck, body: dict[str, Any], context: Any) -> None:
            staff_context = await staff_of(self.env, who_of(context, body))
            typed = str(body.get("value") or "").strip()
            options = await offer(staff_context.env, staff_context, typed, body)
            await ack(options=options[:MAX_OPTIONS])

        return suggest

    # -- clients --------------------------------------------------------------------------

    async def _client_modal(self, context: StaffContext, modal: Modal) -> Message:
        if modal.id is None:
            return views.client_modal(modal, None)
        return views.client_modal(modal, await self._client(context, modal.id))

    async def _client(self, context: StaffContext, client_id: int) -> Client:
        async with context.env.reads() as session:
            return await get_scoped(
                session, Client, org_id=context.org_id, id=client_id, what="client"
            )

    async def _save_client(self, context: StaffContext, modal: Modal, form: Form) -> str:
        name = form.check(
            views.NAME, lambda: clean_text(form.text(views.NAME), what="client name", max_len=200)
        )
        shared = views.SHARED in form.choices(views.CABINET)
        form.done()
        assert name is not None
        if modal.id is None:
            added = await on_field(
                views.NAME,
                organizations.add_client(
                    context.env,
                    org_id=context.org_id,
                    actor=context.actor,
                    name=name,
                    shared_cabinet=shared,
                ),
            )
            return f"Added client {added.name}."
        edited = await on_field(
            views.NAME,
            organizations.edit_client(
                context.env,
                org_id=context.org_id,
                actor=context.actor,
                client_id=modal.id,
                name=name,
                shared_cabinet=shared,
            ),
        )
        return f"Saved client {edited.name}."


def _action_value(body: dict[str, Any]) -> str:
    """The value of the button pressed or of the menu option picked."""
    action = body["actions"][0]
    selected = action.get("selected_option")
    return str((selected or {}).get("value") or action.get("value") or "")


async def _redraw(response_url: str, message: Message) -> None:
    """Show the list anew where it was; the change is saved even when this fails."""
    try:
        sent = await AsyncRespond(response_url=response_url)(replace_original=True, **message)
    except (aiohttp.ClientError, TimeoutError):
        log.warning("could not redraw a directory list", exc_info=True)
        return
    if sent.status_code != 200:
        log.warning("Slack refused to redraw a directory list: %s", sent.body)


def _haystack(row: RecipientRow) -> str:
    recipient = row.recipient
    return " ".join(
        filter(None, (recipient.name, recipient.email, recipient.phone, row.client))
    ).lower()
