"""Block Kit validation for the fake Slack Web API, with Slack's limits and error messages.

``check_message_blocks`` and ``check_view`` return Slack-style problem strings,
``"[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``; the
server answers ``invalid_blocks`` (messages) or ``invalid_arguments`` (views) with them in
``response_metadata.messages``, as Slack does. Fields that Block Kit does not define are
refused, so a typo fails in tests rather than being silently ignored.

Deviations, on purpose: lengths are counted in code points; rich text is checked one level
deep (element types and their required keys); ``blocks`` that are not a JSON array raise
``invalid_blocks_format`` in the server, not here.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_ID = 255
MAX_PRIVATE_METADATA = 3000
MAX_VIEW_TITLE = 24
VIEW_TYPES = ("modal", "home")


@dataclass
class _Checker:
    """Walks a payload and collects problems; ``surface`` is "message", "modal" or "home"."""

    surface: str
    problems: list[str] = field(default_factory=list)
    block_ids: set[str] = field(default_factory=set)

    def fail(self, pointer: str, reason: str) -> None:
        self.problems.append(f"[ERROR] {reason} [json-pointer:{pointer}]")

    def fields(self, obj: Any, pointer: str, spec: _Spec) -> bool:
        """Check ``obj`` against ``spec``; False when it is not even an object."""
        if not isinstance(obj, dict):
            self.fail(pointer, "must provide an object")
            return False
        for name in sorted(spec.required - obj.keys()):
            self.fail(pointer, f"missing required field: {name}")
        for name, value in obj.items():
            check = spec.fields.get(name)
            if name == "type":
                continue
            if check is None:
                self.fail(f"{pointer}/{name}", f"unsupported field: {name}")
            elif value is not None or name in spec.required:
                check(self, value, f"{pointer}/{name}")
        if spec.rule is not None:
            spec.rule(self, obj, pointer)
        return True


Check = Callable[[_Checker, Any, str], None]
Rule = Callable[[_Checker, JSON, str], None]


@dataclass(frozen=True)
class _Spec:
    fields: dict[str, Check]
    required: frozenset[str] = frozenset()
    rule: Rule | None = None


def _spec(required: Iterable[str] = (), rule: Rule | None = None, **fields: Check) -> _Spec:
    return _Spec(fields=fields, required=frozenset(required), rule=rule)


# --- Scalar checks ----------------------------------------------------------------------------


def _string(max_len: int, *, min_len: int = 0) -> Check:
    def check(c: _Checker, value: Any, pointer: str) -> None:
        if not isinstance(value, str):
            c.fail(pointer, "must provide a string")
        elif len(value) > max_len:
            c.fail(pointer, f"must be less than {max_len + 1} characters")
        elif len(value) < min_len:
            c.fail(pointer, f"must be more than {min_len - 1} characters")

    return check


def _boolean(c: _Checker, value: Any, pointer: str) -> None:
    if not isinstance(value, bool):
        c.fail(pointer, "must provide a boolean")


def _integer(low: int, high: int) -> Check:
    def check(c: _Checker, value: Any, pointer: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            c.fail(pointer, "must provide an integer")
        elif not low <= value <= high:
            c.fail(pointer, f"must be between {low} and {high}")

    return check


def _one_of(*allowed: str) -> Check:
    def check(c: _Checker, value: Any, pointer: str) -> None:
        if value not in allowed:
            c.fail(pointer, f"must be one of: {', '.join(allowed)}")

    return check


def _pattern(regex: str, description: str) -> Check:
    compiled = re.compile(regex)

    def check(c: _Checker, value: Any, pointer: str) -> None:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            c.fail(pointer, f"must be {description}")

    return check


def _number_string(c: _Checker, value: Any, pointer: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+(\.\d+)?", value):
        c.fail(pointer, "must provide a number as a string")


def _object(c: _Checker, value: Any, pointer: str) -> None:
    if not isinstance(value, dict):
        c.fail(pointer, "must provide an object")


def _list_of(item: Check, *, max_items: int, min_items: int = 0) -> Check:
    def check(c: _Checker, value: Any, pointer: str) -> None:
        if not isinstance(value, list):
            c.fail(pointer, "must provide an array")
            return
        if len(value) > max_items:
            c.fail(pointer, f"no more than {max_items} items allowed")
        if len(value) < min_items:
            c.fail(pointer, f"at least {min_items} items required")
        for index, entry in enumerate(value):
            item(c, entry, f"{pointer}/{index}")

    return check


_ID = _string(MAX_ID, min_len=1)
_URL = _string(3000, min_len=1)


def _unique_id_list(c: _Checker, value: Any, pointer: str) -> None:
    _list_of(_string(MAX_ID, min_len=1), max_items=100)(c, value, pointer)


# --- Composition objects ----------------------------------------------------------------------


def _text(max_len: int, *, plain_only: bool = False) -> Check:
    """A text object: ``{"type": "plain_text" | "mrkdwn", "text": ...}``."""

    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    text = _string(max_len, min_len=1)
    specs = {
        "plain_text": _spec(["text"], text=text, emoji=_boolean),
        "mrkdwn": _spec(["text"], text=text, verbatim=_boolean),
    }

    def check(c: _Checker, value: Any, pointer: str) -> None:
        if not isinstance(value, dict):
            c.fail(pointer, "must provide an object")
        elif value.get("type") not in allowed:
            c.fail(f"{pointer}/type", f"must be one of: {', '.join(allowed)}")
        else:
            c.fields(value, pointer, specs[value["type"]])

    return check


def _plain(max_len: int) -> Check:
    return _text(max_len, plain_only=True)


_CONFIRM = _spec(
    ["title", "text", "confirm", "deny"],
    title=_plain(100),
    text=_text(300),
    confirm=_plain(30),
    deny=_plain(30),
    style=_one_of("primary", "danger"),
)


def _confirm(c: _Checker, value: Any, pointer: str) -> None:
    c.fields(value, pointer, _CONFIRM)


def _option(*, mrkdwn: bool = False, url: bool = False) -> Check:
    fields: dict[str, Check] = {
        "text": _text(75) if mrkdwn else _plain(75),
        "value": _string(150, min_len=1),
        "description": _text(75) if mrkdwn else _plain(75),
    }
    if url:
        fields["url"] = _URL
    spec = _Spec(fields=fields, required=frozenset({"text", "value"}))

    def check(c: _Checker, value: Any, pointer: str) -> None:
        c.fields(value, pointer, spec)

    return check


_SELECT_OPTION = _option()
_OPTION_GROUP = _spec(
    ["label", "options"], label=_plain(75), options=_list_of(_SELECT_OPTION, max_items=100)
)


def _option_group(c: _Checker, value: Any, pointer: str) -> None:
    c.fields(value, pointer, _OPTION_GROUP)


def _offered_values(element: JSON) -> set[str] | None:
    """The option values a static element offers; None when they cannot be known."""
    options = element.get("options")
    if element.get("option_groups") is not None:
        options = [
            option
            for group in element["option_groups"]
            if isinstance(group, dict) and isinstance(group.get("options"), list)
            for option in group["options"]
        ]
    if not isinstance(options, list):
        return None
    return {o.get("value") for o in options if isinstance(o, dict)}


def _initial_among_options(c: _Checker, element: JSON, pointer: str) -> None:
    """Slack refuses an ``initial_option(s)`` that is not one of the offered options."""
    offered = _offered_values(element)
    if offered is None:
        return
    initial = element.get("initial_option")
    chosen = [initial] if isinstance(initial, dict) else element.get("initial_options") or []
    name = "initial_option" if isinstance(initial, dict) else "initial_options"
    for option in chosen:
        if isinstance(option, dict) and option.get("value") not in offered:
            c.fail(f"{pointer}/{name}", "must match one of the provided options")


def _static_select_rule(c: _Checker, element: JSON, pointer: str) -> None:
    if ("options" in element) == ("option_groups" in element):
        c.fail(pointer, "must provide exactly one of options or option_groups")
    _initial_among_options(c, element, pointer)


def _dispatch_config(c: _Checker, value: Any, pointer: str) -> None:
    spec = _spec(
        trigger_actions_on=_list_of(
            _one_of("on_enter_pressed", "on_character_entered"), max_items=2, min_items=1
        )
    )
    c.fields(value, pointer, spec)


def _conversation_filter(c: _Checker, value: Any, pointer: str) -> None:
    spec = _spec(
        include=_list_of(_one_of("im", "mpim", "private", "public"), max_items=4, min_items=1),
        exclude_external_shared_channels=_boolean,
        exclude_bot_users=_boolean,
    )
    c.fields(value, pointer, spec)


def _slack_file(c: _Checker, value: Any, pointer: str) -> None:
    c.fields(value, pointer, _spec(url=_URL, id=_ID))


# --- Elements ---------------------------------------------------------------------------------

_PLACEHOLDER = _plain(150)
_COMMON = {"action_id": _ID, "focus_on_load": _boolean}
_MAX_SELECTED = _integer(1, 100)


def _select(
    extra: dict[str, Check], *, required: Iterable[str] = (), rule: Rule | None = None
) -> _Spec:
    return _Spec(
        fields={**_COMMON, "placeholder": _PLACEHOLDER, "confirm": _confirm, **extra},
        required=frozenset(required),
        rule=rule,
    )


def _image_rule(c: _Checker, obj: JSON, pointer: str) -> None:
    if ("image_url" in obj) == ("slack_file" in obj):
        c.fail(pointer, "must provide exactly one of image_url or slack_file")


_STATIC_OPTIONS = {
    "options": _list_of(_SELECT_OPTION, max_items=100, min_items=1),
    "option_groups": _list_of(_option_group, max_items=100, min_items=1),
}

ELEMENTS: dict[str, _Spec] = {
    "button": _spec(
        ["text"],
        text=_plain(75),
        action_id=_ID,
        url=_URL,
        value=_string(2000),
        style=_one_of("primary", "danger"),
        confirm=_confirm,
        accessibility_label=_string(75, min_len=1),
    ),
    "static_select": _select(
        {**_STATIC_OPTIONS, "initial_option": _SELECT_OPTION}, rule=_static_select_rule
    ),
    "multi_static_select": _select(
        {
            **_STATIC_OPTIONS,
            "initial_options": _list_of(_SELECT_OPTION, max_items=100),
            "max_selected_items": _MAX_SELECTED,
        },
        rule=_static_select_rule,
    ),
    "external_select": _select(
        {"initial_option": _SELECT_OPTION, "min_query_length": _integer(0, 100)}
    ),
    "multi_external_select": _select(
        {
            "initial_options": _list_of(_SELECT_OPTION, max_items=100),
            "min_query_length": _integer(0, 100),
            "max_selected_items": _MAX_SELECTED,
        }
    ),
    "users_select": _select({"initial_user": _ID}),
    "multi_users_select": _select(
        {"initial_users": _unique_id_list, "max_selected_items": _MAX_SELECTED}
    ),
    "conversations_select": _select(
        {
            "initial_conversation": _ID,
            "default_to_current_conversation": _boolean,
            "response_url_enabled": _boolean,
            "filter": _conversation_filter,
        }
    ),
    "multi_conversations_select": _select(
        {
            "initial_conversations": _unique_id_list,
            "default_to_current_conversation": _boolean,
            "max_selected_items": _MAX_SELECTED,
            "filter": _conversation_filter,
        }
    ),
    "channels_select": _select({"initial_channel": _ID, "response_url_enabled": _boolean}),
    "multi_channels_select": _select(
        {"initial_channels": _unique_id_list, "max_selected_items": _MAX_SELECTED}
    ),
    "overflow": _spec(
        ["options"],
        action_id=_ID,
        options=_list_of(_option(url=True), max_items=5, min_items=1),
        confirm=_confirm,
    ),
    "datepicker": _select({"initial_date": _pattern(r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD")}),
    "datetimepicker": _spec(initial_date_time=_integer(0, 2**31 - 1), confirm=_confirm, **_COMMON),
    "timepicker": _select(
        {"initial_time": _pattern(r"\d{2}:\d{2}", "HH:mm"), "timezone": _string(64)}
    ),
    "checkboxes": _spec(
        ["options"],
        options=_list_of(_option(mrkdwn=True), max_items=10, min_items=1),
        initial_options=_list_of(_option(mrkdwn=True), max_items=10),
        confirm=_confirm,
        rule=_initial_among_options,
        **_COMMON,
    ),
    "radio_buttons": _spec(
        ["options"],
        options=_list_of(_option(mrkdwn=True), max_items=10, min_items=1),
        initial_option=_option(mrkdwn=True),
        confirm=_confirm,
        rule=_initial_among_options,
        **_COMMON,
    ),
    "plain_text_input": _spec(
        placeholder=_PLACEHOLDER,
        initial_value=_string(3000),
        multiline=_boolean,
        min_length=_integer(0, 3000),
        max_length=_integer(1, 3000),
        dispatch_action_config=_dispatch_config,
        **_COMMON,
    ),
    "email_text_input": _spec(
        placeholder=_PLACEHOLDER,
        initial_value=_string(3000),
        dispatch_action_config=_dispatch_config,
        **_COMMON,
    ),
    "url_text_input": _spec(
        placeholder=_PLACEHOLDER,
        initial_value=_string(3000),
        dispatch_action_config=_dispatch_config,
        **_COMMON,
    ),
    "number_input": _spec(
        ["is_decimal_allowed"],
        is_decimal_allowed=_boolean,
        placeholder=_PLACEHOLDER,
        initial_value=_number_string,
        min_value=_number_string,
        max_value=_number_string,
        dispatch_action_config=_dispatch_config,
        **_COMMON,
    ),
    "file_input": _spec(
        action_id=_ID,
        filetypes=_list_of(_string(32, min_len=1), max_items=100),
        max_files=_integer(1, 10),
    ),
    "rich_text_input": _spec(
        placeholder=_PLACEHOLDER,
        initial_value=_object,
        dispatch_action_config=_dispatch_config,
        **_COMMON,
    ),
    "image": _spec(
        ["alt_text"],
        image_url=_URL,
        slack_file=_slack_file,
        alt_text=_string(2000, min_len=1),
        rule=_image_rule,
    ),
    "workflow_button": _spec(
        ["text", "workflow"],
        text=_plain(75),
        workflow=_object,
        action_id=_ID,
        style=_one_of("primary", "danger"),
        accessibility_label=_string(75, min_len=1),
    ),
}

_SELECTS = {
    f"{multi}{kind}_select"
    for multi in ("", "multi_")
    for kind in ("static", "external", "users", "conversations", "channels")
}
ACTIONS_ELEMENTS = frozenset(
    {"button", "checkboxes", "datepicker", "datetimepicker", "overflow", "radio_buttons"}
    | {"timepicker", "workflow_button"}
    | _SELECTS
)
ACCESSORY_ELEMENTS = (ACTIONS_ELEMENTS - {"datetimepicker"}) | {"image"}
INPUT_ELEMENTS = frozenset(
    {"checkboxes", "datepicker", "datetimepicker", "email_text_input", "file_input"}
    | {"number_input", "plain_text_input", "radio_buttons", "rich_text_input", "timepicker"}
    | {"url_text_input"}
    | _SELECTS
)
MODAL_ONLY_ELEMENTS = frozenset({"file_input"})


def _element(allowed: frozenset[str]) -> Check:
    def check(c: _Checker, value: Any, pointer: str) -> None:
        if not isinstance(value, dict):
            c.fail(pointer, "must provide an object")
            return
        kind = value.get("type")
        if kind not in ELEMENTS or kind not in allowed:
            c.fail(f"{pointer}/type", f"unsupported element type here: {kind}")
            return
        if kind in MODAL_ONLY_ELEMENTS and c.surface != "modal":
            c.fail(f"{pointer}/type", f"{kind} is only supported in modals")
        c.fields(value, pointer, ELEMENTS[kind])

    return check


def _context_element(c: _Checker, value: Any, pointer: str) -> None:
    if isinstance(value, dict) and value.get("type") == "image":
        c.fields(value, pointer, ELEMENTS["image"])
    else:
        _text(3000)(c, value, pointer)


# --- Rich text --------------------------------------------------------------------------------

_RICH_INLINE_REQUIRED = {
    "text": "text",
    "link": "url",
    "emoji": "name",
    "user": "user_id",
    "channel": "channel_id",
    "usergroup": "usergroup_id",
    "broadcast": "range",
    "date": "timestamp",
    "color": "value",
}
_RICH_CONTAINERS = ("rich_text_section", "rich_text_list", "rich_text_preformatted")


def _rich_inline(c: _Checker, value: Any, pointer: str) -> None:
    if not isinstance(value, dict) or value.get("type") not in _RICH_INLINE_REQUIRED:
        c.fail(pointer, "must be a rich text element (text, link, emoji, user, channel…)")
        return
    if _RICH_INLINE_REQUIRED[value["type"]] not in value:
        c.fail(pointer, f"missing required field: {_RICH_INLINE_REQUIRED[value['type']]}")


def _rich_container(c: _Checker, value: Any, pointer: str) -> None:
    kinds = (*_RICH_CONTAINERS, "rich_text_quote")
    if not isinstance(value, dict) or value.get("type") not in kinds:
        c.fail(pointer, f"must be one of: {', '.join(kinds)}")
        return
    elements = value.get("elements")
    if value["type"] == "rich_text_list":
        if value.get("style") not in ("bullet", "ordered"):
            c.fail(f"{pointer}/style", "must be one of: bullet, ordered")
        _list_of(_rich_container, max_items=100)(c, elements, f"{pointer}/elements")
    else:
        _list_of(_rich_inline, max_items=1000)(c, elements, f"{pointer}/elements")


# --- Blocks -----------------------------------------------------------------------------------


def _section_rule(c: _Checker, block: JSON, pointer: str) -> None:
    if "text" not in block and "fields" not in block:
        c.fail(pointer, "must provide text or fields")


def _unique_action_ids(c: _Checker, block: JSON, pointer: str) -> None:
    seen: set[str] = set()
    for index, element in enumerate(block.get("elements") or []):
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if action_id is None:
            continue
        if action_id in seen:
            c.fail(f"{pointer}/elements/{index}/action_id", f"duplicate action_id: {action_id}")
        seen.add(action_id)


BLOCKS: dict[str, _Spec] = {
    "section": _spec(
        text=_text(3000),
        fields=_list_of(_text(2000), max_items=10, min_items=1),
        accessory=_element(ACCESSORY_ELEMENTS),
        expand=_boolean,
        rule=_section_rule,
    ),
    "actions": _spec(
        ["elements"],
        elements=_list_of(_element(ACTIONS_ELEMENTS), max_items=25, min_items=1),
        rule=_unique_action_ids,
    ),
    "context": _spec(["elements"], elements=_list_of(_context_element, max_items=10, min_items=1)),
    "divider": _spec(),
    "header": _spec(["text"], text=_plain(150)),
    "image": _spec(
        ["alt_text"],
        image_url=_URL,
        slack_file=_slack_file,
        alt_text=_string(2000, min_len=1),
        title=_plain(2000),
        rule=_image_rule,
    ),
    "input": _spec(
        ["label", "element"],
        label=_plain(2000),
        element=_element(INPUT_ELEMENTS),
        hint=_plain(2000),
        optional=_boolean,
        dispatch_action=_boolean,
    ),
    "rich_text": _spec(
        ["elements"], elements=_list_of(_rich_container, max_items=100, min_items=1)
    ),
    "file": _spec(["external_id", "source"], external_id=_ID, source=_one_of("remote")),
    "video": _spec(
        ["alt_text", "title", "thumbnail_url", "video_url"],
        alt_text=_string(2000, min_len=1),
        title=_plain(200),
        title_url=_URL,
        thumbnail_url=_URL,
        video_url=_URL,
        author_name=_string(50),
        description=_plain(200),
        provider_icon_url=_URL,
        provider_name=_string(50),
    ),
    "markdown": _spec(["text"], text=_string(12000, min_len=1)),
}


def _block(c: _Checker, value: Any, pointer: str) -> None:
    if not isinstance(value, dict):
        c.fail(pointer, "must provide an object")
        return
    kind = value.get("type")
    if kind not in BLOCKS:
        c.fail(f"{pointer}/type", f"unsupported block type: {kind}")
        return
    block_id = value.get("block_id")
    if isinstance(block_id, str):
        if block_id in c.block_ids:
            c.fail(f"{pointer}/block_id", f"duplicate block_id: {block_id}")
        c.block_ids.add(block_id)
    spec = BLOCKS[kind]
    c.fields(value, pointer, _Spec({**spec.fields, "block_id": _ID}, spec.required, spec.rule))


def _blocks(max_blocks: int) -> Check:
    return _list_of(_block, max_items=max_blocks)


# --- Surfaces ---------------------------------------------------------------------------------


def check_message_blocks(blocks: Any, *, pointer: str = "/blocks") -> list[str]:
    """Problems with a message's ``blocks`` (a decoded JSON value); empty when valid."""
    checker = _Checker("message")
    _blocks(MAX_MESSAGE_BLOCKS)(checker, blocks, pointer)
    return checker.problems


def _modal_rule(c: _Checker, view: JSON, pointer: str) -> None:
    blocks = view.get("blocks")
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if has_input and "submit" not in view:
        c.fail(pointer, "must provide submit when the view has input blocks")


_VIEW_COMMON: dict[str, Check] = {
    "blocks": _blocks(MAX_VIEW_BLOCKS),
    "private_metadata": _string(MAX_PRIVATE_METADATA),
    "callback_id": _string(MAX_ID),
    "external_id": _string(MAX_ID),
}
VIEWS: dict[str, _Spec] = {
    "modal": _spec(
        ["title", "blocks"],
        title=_plain(MAX_VIEW_TITLE),
        close=_plain(MAX_VIEW_TITLE),
        submit=_plain(MAX_VIEW_TITLE),
        clear_on_close=_boolean,
        notify_on_close=_boolean,
        submit_disabled=_boolean,
        rule=_modal_rule,
        **_VIEW_COMMON,
    ),
    "home": _spec(["blocks"], **_VIEW_COMMON),
}


def check_view(view: Any, *, allowed: Iterable[str] = VIEW_TYPES) -> list[str]:
    """Problems with a view payload of one of the ``allowed`` types; empty when valid."""
    pointer = "/view"
    kinds = tuple(allowed)
    if not isinstance(view, dict):
        return [f"[ERROR] must provide an object [json-pointer:{pointer}]"]
    kind = view.get("type")
    if kind not in kinds:
        return [f"[ERROR] must be one of: {', '.join(kinds)} [json-pointer:{pointer}/type]"]
    checker = _Checker(kind)
    checker.fields(view, pointer, VIEWS[kind])
    return checker.problems


# --- What Slack fills in ----------------------------------------------------------------------


def with_generated_ids(blocks: list[JSON]) -> list[JSON]:
    """A copy of valid ``blocks`` with the block_id and action_id Slack generates if absent."""
    filled: list[JSON] = []
    for block in blocks:
        block = {**block, "block_id": block.get("block_id") or secrets.token_urlsafe(4)}
        if block["type"] == "actions" and isinstance(block.get("elements"), list):
            block["elements"] = [_with_action_id(e) for e in block["elements"]]
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                block[key] = _with_action_id(block[key])
        filled.append(block)
    return filled


def _with_action_id(element: JSON) -> JSON:
    if element.get("type") == "image" or element.get("action_id"):
        return element
    return {**element, "action_id": secrets.token_urlsafe(4)}
