"""Reading what staff typed into the directory's modals, and the errors shown on its fields.

Slack shows ``response_action: errors`` under the named input blocks, so each check here
says which block it is about. Values are checked with the same functions the workflows
use, so a modal and the CLI refuse the same things in the same words.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from bot.slack.features.directory.views import LISTS, MAX_WORDS, ListState, Modal
from bot.slack.views import Errors, sentence
from workflows.errors import InvalidInput, WorkflowError
from workflows.people.membership import MembershipChange

T = TypeVar("T")
Values = Mapping[str, Mapping[str, Any]]
"""``view.state.values``: block_id → action_id → the element's state."""


class FieldErrors(Exception):
    """Errors to show under the modal's input blocks, keyed by block_id."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


class Form:
    """The values of one submitted modal and the errors found in them so far."""

    def __init__(self, values: Values) -> None:
        self.values = values
        self.errors: Errors = {}

    def _entry(self, block: str) -> Mapping[str, Any]:
        return next(iter(self.values.get(block, {}).values()), {})

    def text(self, block: str) -> str:
        return str(self._entry(block).get("value") or "").strip()

    def choice(self, block: str) -> str | None:
        selected = self._entry(block).get("selected_option")
        return str(selected["value"]) if selected else None

    def choices(self, block: str) -> list[str]:
        return [str(o["value"]) for o in self._entry(block).get("selected_options") or []]

    def day(self, block: str) -> date | None:
        picked = self._entry(block).get("selected_date")
        if not picked:
            return None
        try:
            return date.fromisoformat(str(picked))
        except ValueError:
            self.errors[block] = f"'{picked}' is not a date"
            return None

    def ids(self, block: str, *, what: str) -> list[int]:
        return [i for i in (self.id_of(block, v, what=what) for v in self.choices(block)) if i]

    def id_of(self, block: str, value: str | None, *, what: str) -> int | None:
        """The id behind a chosen option; anything else is an error on ``block``."""
        if value is None:
            return None
        if not value.isdigit():
            self.errors[block] = f"That {what} is not one Inkpost offered"
            return None
        return int(value)

    def check(self, block: str, rule: Callable[[], T]) -> T | None:
        """``rule()``, or None with its refusal noted under ``block``."""
        try:
            return rule()
        except WorkflowError as error:
            self.errors.setdefault(block, sentence(str(error)))
            return None

    def done(self) -> None:
        """Stop here when any field was wrong: nothing may change."""
        if self.errors:
            raise FieldErrors(self.errors)


async def on_field(block: str, work: Awaitable[T]) -> T:
    """The workflow's result; its refusal is shown under ``block``."""
    try:
        return await work
    except WorkflowError as error:
        raise FieldErrors({block: sentence(str(error))}) from error


def words_of(args: str) -> str:
    words = " ".join(args.split())
    if len(words) > MAX_WORDS:
        raise InvalidInput(f"search with up to {MAX_WORDS} characters")
    return words


def parse_state(raw: str) -> ListState:
    """The list a button or modal belongs to, from the value Inkpost gave it."""
    data = _json(raw)
    kind, page, words = data.get("l"), data.get("p"), data.get("q", "")
    if kind not in LISTS or not isinstance(page, int) or not isinstance(words, str):
        raise InvalidInput("this button does not belong to a list of Inkpost")
    return ListState(kind, max(page, 1), words[:MAX_WORDS])


def parse_target(raw: str) -> tuple[ListState, str, int]:
    """(list, what to do, the id it is done to) from a row's button or menu option."""
    data = _json(raw)
    target, do = data.get("id"), data.get("do", "")
    if not isinstance(target, int) or isinstance(target, bool) or not isinstance(do, str):
        raise InvalidInput("this button does not name anything in Inkpost")
    return parse_state(raw), do, target


def target_of(raw: str) -> int | None:
    """The id a button acts on, when it names one (an Add button does not)."""
    target = _json(raw).get("id")
    return target if isinstance(target, int) and not isinstance(target, bool) else None


def parse_modal(raw: str) -> Modal:
    data = _json(raw)
    state = parse_state(str(data.get("l") or ""))
    target = data.get("id")
    return Modal(
        state=state,
        response_url=str(data.get("u") or ""),
        id=target if isinstance(target, int) else None,
        kind=str(data.get("k") or ""),
    )


def _json(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidInput("this button does not belong to Inkpost")
    return data


def change_notice(change: MembershipChange, *, nothing: str) -> str:
    """Who joined and who left, as the list's notice after a save."""
    parts = []
    if change.added:
        parts.append("added: " + ", ".join(change.added))
    if change.removed:
        parts.append("removed: " + ", ".join(change.removed))
    return sentence("; ".join(parts)) + "." if parts else nothing
