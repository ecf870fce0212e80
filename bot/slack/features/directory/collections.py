"""The directory's group and space forms: creating one, changing its members, deleting it.

Groups are anyone's to manage; spaces decide what clients see, so only administrators
manage them, and only administrators delete either.
"""

from __future__ import annotations

from bot.slack.blocks import Message
from bot.slack.features.directory import views
from bot.slack.features.directory.forms import FieldErrors, Form, change_notice
from bot.slack.features.directory.views import ListState, Modal
from bot.slack.views import sentence
from workflows.context import Env
from workflows.errors import InvalidInput, NotFound, WorkflowError
from workflows.people import groups, membership, spaces
from workflows.people.staff import StaffContext, require_admin
from workflows.scope import clean_text


class CollectionForms:
    """The modals under a list of groups or spaces, what saving them does, and Delete."""

    def __init__(self, env: Env) -> None:
        self.env = env

    async def add_modal(self, context: StaffContext, modal: Modal) -> Message:
        kind = collection_kind(modal.state)
        may_manage(context, kind)
        return views.collection_modal(Modal(modal.state, modal.response_url, None, kind))

    async def members_modal(self, context: StaffContext, modal: Modal) -> Message:
        kind = collection_kind(modal.state)
        may_manage(context, kind)
        assert modal.id is not None
        name, count = await self._collection(context, kind, modal.id)
        return views.members_modal(
            Modal(modal.state, modal.response_url, modal.id, kind), name=name, members=count
        )

    async def _collection(self, context: StaffContext, kind: str, item_id: int) -> tuple[str, int]:
        """The name and size of a group or space of this organisation."""
        if kind == "group":
            found = await groups.list_groups(context.env, org_id=context.org_id)
            pairs = [(g.group.id, g.group.name, g.members) for g in found]
        else:
            listed = await spaces.list_spaces(context.env, org_id=context.org_id)
            pairs = [(s.space.id, s.space.name, s.members) for s in listed]
        for found_id, name, count in pairs:
            if found_id == item_id:
                return name, count
        raise NotFound(f"{kind} {item_id} not found")

    async def save(self, context: StaffContext, modal: Modal, form: Form) -> str:
        kind = modal.kind
        if kind not in ("group", "space"):
            raise InvalidInput("this form does not say what to create")
        may_manage(context, kind)
        name = form.check(
            views.NAME, lambda: clean_text(form.text(views.NAME), what=f"{kind} name", max_len=200)
        )
        member_ids = form.ids(views.MEMBERS, what="recipient")
        form.done()
        assert name is not None
        try:
            if kind == "group":
                await groups.create_group(
                    context.env,
                    org_id=context.org_id,
                    actor=context.actor,
                    name=name,
                    member_ids=member_ids,
                )
            else:
                await spaces.create_space(
                    context.env,
                    org_id=context.org_id,
                    actor=context.actor,
                    name=name,
                    member_ids=member_ids,
                )
        except NotFound as error:
            raise FieldErrors({views.MEMBERS: sentence(str(error))}) from error
        except WorkflowError as error:
            raise FieldErrors({views.NAME: sentence(str(error))}) from error
        count = len(set(member_ids))
        return f"Created {kind} {name} with {count} member{'s' if count != 1 else ''}."

    async def save_members(self, context: StaffContext, modal: Modal, form: Form) -> str:
        kind = modal.kind
        if kind not in ("group", "space") or modal.id is None:
            raise InvalidInput("this form does not say whose members to change")
        may_manage(context, kind)
        add = form.ids(views.ADD_MEMBERS, what="recipient")
        remove = form.ids(views.REMOVE_MEMBERS, what="recipient")
        form.check(views.ADD_MEMBERS, lambda: membership.check_moves(add, remove))
        form.done()
        try:
            if kind == "group":
                change = await groups.change_group_members(
                    context.env,
                    org_id=context.org_id,
                    actor=context.actor,
                    group_id=modal.id,
                    add=add,
                    remove=remove,
                )
            else:
                change = await spaces.change_space_members(
                    context.env,
                    org_id=context.org_id,
                    actor=context.actor,
                    space_id=modal.id,
                    add=add,
                    remove=remove,
                )
        except WorkflowError as error:
            block = views.REMOVE_MEMBERS if "not a member" in str(error) else views.ADD_MEMBERS
            raise FieldErrors({block: sentence(str(error))}) from error
        return change_notice(change, nothing="No one joined or left.")

    async def delete(self, context: StaffContext, kind: str, item_id: int) -> str:
        require_admin(context, to=f"delete {kind}s")
        if kind == "group":
            group = await groups.delete_group(
                context.env, org_id=context.org_id, actor=context.actor, group_id=item_id
            )
            return f"Deleted group {group.name}; what was shared through it stays shared."
        name, _ = await self._collection(context, kind, item_id)
        deletion = await spaces.delete_space(
            context.env, org_id=context.org_id, actor=context.actor, space_id=item_id
        )
        removed = ", ".join(deletion.removed_recipients) or "none"
        return (
            f"Deleted space {name}: {deletion.revoked_shares} share(s) revoked; "
            f"recipients removed: {removed}."
        )


def collection_kind(state: ListState) -> str:
    """ "group" or "space": what a list's button acts on."""
    if state.kind not in ("groups", "spaces"):
        raise InvalidInput("this button does not belong to a list of groups or spaces")
    return state.kind[:-1]


def may_manage(context: StaffContext, kind: str) -> None:
    if kind == "space":
        require_admin(context, to="manage spaces")
