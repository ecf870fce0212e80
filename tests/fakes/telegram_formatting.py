"""Telegram's message formatting as the fake Bot API checks it: the HTML subset, MarkdownV2
and inline keyboards.

``parse_formatted`` turns marked-up text into the plain text and entities Telegram stores,
refusing what Telegram refuses with its own words; ``check_reply_markup`` applies the
rules for inline keyboard buttons (one action each, 64-byte callback data, real URLs).
Text is measured in UTF-16 code units, as Telegram counts entity offsets.
"""

from __future__ import annotations

import itertools
from html.parser import HTMLParser
from urllib.parse import urlsplit

from tests.fakes.telegram_wire import JSON, ApiError, bad_request

MAX_CALLBACK_DATA = 64

BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_HTML_KINDS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class _TelegramHtml(HTMLParser):
    """Telegram's HTML subset: allowed tags only, properly nested, four named entities."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self.line_starts = [0]
        for line in source.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.parts: list[str] = []
        self.length = 0
        self.open: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[JSON] = []

    def fail(self, reason: str) -> ApiError:
        line, column = self.getpos()
        offset = len(self.source[: self.line_starts[line - 1] + column].encode())
        return bad_request(f"can't parse entities: {reason} at byte offset {offset}")

    def add_text(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in _HTML_KINDS or (tag == "span" and attributes.get("class") != "tg-spoiler"):
            raise self.fail(f'Unsupported start tag "{tag}"')
        if tag == "tg-emoji" and not attributes.get("emoji-id"):
            raise self.fail("Custom emoji entity must contain a valid custom emoji identifier")
        self.open.append((tag, self.length, attributes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise self.fail(f'Unsupported start tag "{tag}/"')

    def handle_endtag(self, tag: str) -> None:
        if not self.open:
            raise self.fail(f'Unexpected end tag "{tag}"')
        expected, start, attributes = self.open.pop()
        if expected != tag:
            raise self.fail(f'Unmatched end tag, expected "</{expected}>", found "</{tag}>"')
        length = self.length - start
        if length == 0:
            return
        entity: JSON = {"type": _HTML_KINDS[tag], "offset": start, "length": length}
        if tag == "a":
            if not attributes.get("href"):
                return
            entity["url"] = attributes["href"]
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attributes["emoji-id"]
        elif tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif tag == "code" and self.open and self.open[-1][0] == "pre":
            language = (attributes.get("class") or "").removeprefix("language-")
            if language:
                self.open[-1][2]["language"] = language
            return
        elif tag == "pre" and attributes.get("language"):
            entity["language"] = attributes["language"]
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        if "<" in data:
            raise self.fail("Unexpected end of name token")
        self.add_text(data)

    def handle_entityref(self, name: str) -> None:
        if name not in _HTML_NAMED:
            raise self.fail(f'Unsupported HTML entity "&{name};"')
        self.add_text(_HTML_NAMED[name])

    def handle_charref(self, name: str) -> None:
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
            self.add_text(chr(code))
        except (ValueError, OverflowError) as e:
            raise self.fail(f'Invalid character reference "&#{name};"') from e

    def handle_comment(self, data: str) -> None:
        raise self.fail("Unsupported comment")

    def handle_decl(self, decl: str) -> None:
        raise self.fail("Unsupported declaration")

    def handle_pi(self, data: str) -> None:
        raise self.fail("Unsupported processing instruction")

    def unknown_decl(self, data: str) -> None:
        raise self.fail("Unsupported declaration")

    def finish(self) -> tuple[str, list[JSON]]:
        self.close()
        if self.open:
            tag = self.open[-1][0]
            raise bad_request(
                f"can't parse entities: Can't find end tag corresponding to start tag \"{tag}\""
            )
        return "".join(self.parts), sorted(self.entities, key=lambda e: e["offset"])


_MD_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MD_TOGGLES = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}


def _parse_markdown_v2(source: str) -> tuple[str, list[JSON]]:
    """Telegram's MarkdownV2: every reserved character outside markup must be escaped."""
    parts: list[str] = []
    length = 0
    stack: list[tuple[str, int, int]] = []  # kind, utf-16 offset, byte offset
    entities: list[JSON] = []
    i = 0

    def fail(reason: str) -> ApiError:
        offset = len(source[:i].encode())
        return bad_request(f"can't parse entities: {reason} at byte offset {offset}")

    def add(text: str) -> None:
        nonlocal length
        parts.append(text)
        length += utf16_len(text)

    def verbatim(end_marker: str, start: int) -> str:
        """Text of code/pre up to ``end_marker``; only ` and \\ are escaped inside."""
        out: list[str] = []
        j = start
        while j < len(source):
            if source[j] == "\\" and j + 1 < len(source):
                out.append(source[j + 1])
                j += 2
            elif source.startswith(end_marker, j):
                nonlocal i
                i = j + len(end_marker)
                return "".join(out)
            else:
                out.append(source[j])
                j += 1
        kind = "Pre" if end_marker == "```" else "Code"
        raise fail(f"Can't find end of {kind} entity")

    while i < len(source):
        char = source[i]
        if char == "\\":
            if i + 1 >= len(source) or ord(source[i + 1]) > 126:
                raise fail("Character '\\' is reserved and must be escaped")
            add(source[i + 1])
            i += 2
        elif source.startswith("```", i):
            header_end = source.find("\n", i + 3)
            language = source[i + 3 : header_end].strip() if header_end != -1 else ""
            start = length
            add(verbatim("```", header_end + 1 if header_end != -1 else i + 3))
            entity: JSON = {"type": "pre", "offset": start, "length": length - start}
            if language:
                entity["language"] = language
            entities.append(entity)
        elif char == "`":
            start = length
            add(verbatim("`", i + 1))
            entities.append({"type": "code", "offset": start, "length": length - start})
        elif char == ">" and (i == 0 or source[i - 1] == "\n"):
            end = source.find("\n", i)
            start = length
            i += 1
            line_end = len(source) if end == -1 else end
            inner, inner_entities = _parse_markdown_v2(source[i:line_end])
            for e in inner_entities:
                entities.append({**e, "offset": e["offset"] + start})
            add(inner)
            entities.append({"type": "blockquote", "offset": start, "length": length - start})
            i = line_end
        elif source.startswith("__", i) or source.startswith("||", i) or char in "*_~":
            marker = source[i : i + 2] if source[i : i + 2] in ("__", "||") else char
            kind = _MD_TOGGLES[marker]
            if stack and stack[-1][0] == kind:
                _, start, _ = stack.pop()
                if length > start:
                    entities.append({"type": kind, "offset": start, "length": length - start})
            elif any(open_kind == kind for open_kind, _, _ in stack):
                raise fail(f"Can't find end of {stack[-1][0].capitalize()} entity")
            else:
                stack.append((kind, length, len(source[:i].encode())))
            i += len(marker)
        elif char == "[":
            stack.append(("text_link", length, len(source[:i].encode())))
            i += 1
        elif char == "]" and stack and stack[-1][0] == "text_link":
            _, start, _ = stack.pop()
            if not source.startswith("(", i + 1):
                raise fail("Can't find end of a URL")
            close = i + 2
            while close < len(source) and source[close] != ")":
                close += 2 if source[close] == "\\" else 1
            if close >= len(source):
                raise fail("Can't find end of a URL")
            url = source[i + 2 : close].replace("\\)", ")").replace("\\\\", "\\")
            entities.append(
                {"type": "text_link", "offset": start, "length": length - start, "url": url}
            )
            i = close + 1
        elif char in _MD_RESERVED:
            raise fail(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            add(char)
            i += 1
    if stack:
        kind, _, byte_offset = stack[-1]
        name = "TextUrl" if kind == "text_link" else kind.capitalize()
        raise bad_request(
            f"can't parse entities: Can't find end of {name} entity at byte offset {byte_offset}"
        )
    return "".join(parts), sorted(entities, key=lambda e: e["offset"])


def parse_formatted(
    text: str, parse_mode: str | None, entities: list[JSON] | None
) -> tuple[str, list[JSON]]:
    """Text and entities as Telegram stores them: markup parsed, outer whitespace trimmed."""
    if parse_mode in (None, ""):
        plain, found = text, list(entities or [])
    elif parse_mode.lower() == "html":
        parser = _TelegramHtml(text)
        parser.feed(text)
        plain, found = parser.finish()
    elif parse_mode.lower() == "markdownv2":
        plain, found = _parse_markdown_v2(text)
    else:
        raise bad_request("unsupported parse_mode")
    stripped = plain.strip()
    if stripped == plain:
        return plain, found
    lead = utf16_len(plain) - utf16_len(plain.lstrip())
    total = utf16_len(stripped)
    trimmed = []
    for entity in found:
        start = min(max(entity["offset"] - lead, 0), total)
        end = min(max(entity["offset"] + entity["length"] - lead, 0), total)
        if end > start:
            trimmed.append({**entity, "offset": start, "length": end - start})
    return stripped, trimmed


def check_reply_markup(markup: object) -> None:
    """Telegram's rules for inline keyboards; other keyboards are accepted as they are."""
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    for button in itertools.chain.from_iterable(rows):
        if not isinstance(button, dict) or not button.get("text"):
            raise bad_request("can't parse inline keyboard button: Text must be non-empty")
        actions = [key for key in BUTTON_ACTIONS if key in button]
        if not actions:
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the "
                "inline keyboard"
            )
        if len(actions) > 1:
            raise bad_request(
                "can't parse inline keyboard button: exactly one of the optional fields "
                f"must be used, got {', '.join(actions)}"
            )
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                raise bad_request("BUTTON_DATA_INVALID")
        if "url" in button:
            parts = urlsplit(str(button["url"]))
            if parts.scheme not in ("http", "https", "tg") or (
                parts.scheme != "tg" and not parts.netloc
            ):
                raise bad_request("BUTTON_URL_INVALID")
        if "web_app" in button:
            web_app = button["web_app"]
            url = web_app.get("url", "") if isinstance(web_app, dict) else ""
            parts = urlsplit(str(url))
            if parts.scheme != "https" or not parts.netloc:
                raise bad_request(
                    f"inline keyboard button Web App URL '{url}' is invalid: "
                    "Only HTTPS links are allowed"
                )
