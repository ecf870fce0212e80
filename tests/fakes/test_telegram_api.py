"""The fake Bot API, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonCommands,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fakes.telegram_api import FakeTelegramApi, ManualClock, TgUser

ALICE = 4201
BOB = 4202
GROUP = -100777


@pytest.fixture
def fake(telegram_api: FakeTelegramApi) -> FakeTelegramApi:
    """The fake with flood control off and two users who have talked to the bot."""
    telegram_api.flood_limits = None
    telegram_api.register_chat(ALICE, user=TgUser(ALICE, "Alice"))
    telegram_api.register_chat(BOB, user=TgUser(BOB, "Bob"))
    return telegram_api


@pytest.fixture
def clock(telegram_api: FakeTelegramApi) -> ManualClock:
    clock = ManualClock()
    telegram_api.clock = clock
    return clock


@pytest.fixture
async def bot(telegram_api: FakeTelegramApi) -> AsyncIterator[Bot]:
    async with telegram_api.bot() as bot:
        yield bot


def build_application(
    fake: FakeTelegramApi, *, rate_limited: bool = False, polling: bool = True
) -> Application:
    # Any: each builder call changes the builder's generic parameters
    builder: Any = ApplicationBuilder().token(fake.token).base_url(fake.base_url)
    builder = builder.base_file_url(fake.base_file_url)
    if rate_limited:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=2))
    if not polling:
        builder = builder.updater(None)
    application: Application = builder.build()
    return application


@contextlib.asynccontextmanager
async def polling(application: Application) -> AsyncIterator[Application]:
    """The application running with long polling, stopped cleanly afterwards."""
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=timedelta(seconds=1), poll_interval=0)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


async def reply_with_code(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(f"code={' '.join(context.args or [])}")


# --- plain Bot API calls ---------------------------------------------------------------------


async def test_get_me_answers_the_bot_behind_the_token(
    telegram_api: FakeTelegramApi, bot: Bot
) -> None:
    me = await bot.get_me()

    assert me.is_bot and me.username == "inkpost_test_bot"
    assert me.id == int(telegram_api.token.split(":")[0])
    assert bot.base_url == f"{telegram_api.url}/bot{telegram_api.token}"


async def test_wrong_token_is_unauthorized_and_unknown_methods_are_not_found(
    telegram_api: FakeTelegramApi, bot: Bot
) -> None:
    stranger = Bot("1:wrong", base_url=telegram_api.base_url)

    with pytest.raises(InvalidToken, match="was rejected by the server"):
        async with stranger:  # initialize() calls getMe and shuts down on failure
            pass
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("not_a_method")
    assert [r.status for r in telegram_api.requests[-2:]] == [401, 404]


async def test_send_message_returns_the_parsed_text_and_keyboard(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Open", callback_data="open:1")]])

    message = await bot.send_message(
        ALICE, "<b>Fee</b> table &amp; more", parse_mode=ParseMode.HTML, reply_markup=keyboard
    )

    assert message.text == "Fee table & more"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bold", 0, 3)]
    assert message.reply_markup == keyboard
    [sent] = fake.messages_to(ALICE)
    assert (sent.method, sent.text, sent.parse_mode) == ("sendMessage", message.text, "HTML")
    assert sent.buttons == [{"text": "Open", "callback_data": "open:1"}]


async def test_reply_parameters_must_name_an_existing_message(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    first = await bot.send_message(ALICE, "first")

    reply = await bot.send_message(ALICE, "second", reply_to_message_id=first.message_id)

    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == first.message_id
    with pytest.raises(BadRequest, match="(?i)message to be replied not found"):
        await bot.send_message(ALICE, "third", reply_to_message_id=999)


async def test_text_is_limited_to_4096_characters_after_parsing(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    await bot.send_message(ALICE, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)

    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(ALICE, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(ALICE, "<i> </i>", parse_mode=ParseMode.HTML)


@pytest.mark.parametrize(
    "html",
    [
        "<b>unclosed",
        "<b>crossed <i>tags</b></i>",
        "<div>block</div>",
        '<span class="x">not a spoiler</span>',
        "1 < 2",
        "&nbsp;",
        "line<br/>break",
    ],
)
async def test_malformed_html_cannot_be_parsed(fake: FakeTelegramApi, bot: Bot, html: str) -> None:
    with pytest.raises(BadRequest, match="(?i)^can't parse entities: "):
        await bot.send_message(ALICE, html, parse_mode=ParseMode.HTML)

    assert fake.requests_for("sendMessage")[-1].status == 400
    assert fake.sent == []


async def test_telegram_html_subset_is_accepted(fake: FakeTelegramApi, bot: Bot) -> None:
    html = (
        '<a href="https://example.org/d">doc</a> <tg-spoiler>s</tg-spoiler> '
        '<pre><code class="language-python">x = 1</code></pre> <blockquote>q</blockquote> &#65;'
    )

    message = await bot.send_message(ALICE, html, parse_mode=ParseMode.HTML)

    assert message.text == "doc s x = 1 q A"
    kinds = {(e.type, e.url, e.language) for e in message.entities}
    assert kinds == {
        ("text_link", "https://example.org/d", None),
        ("spoiler", None, None),
        ("pre", None, "python"),
        ("blockquote", None, None),
    }


async def test_markdown_v2_needs_reserved_characters_escaped(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    message = await bot.send_message(
        ALICE, r"*Due* 1\.2\.2027 [here](https://example.org)", parse_mode=ParseMode.MARKDOWN_V2
    )

    assert message.text == "Due 1.2.2027 here"
    with pytest.raises(BadRequest, match="(?i)character '\\.' is reserved"):
        await bot.send_message(ALICE, "Due 1.2.2027", parse_mode=ParseMode.MARKDOWN_V2)


async def test_callback_data_is_limited_to_64_bytes(fake: FakeTelegramApi, bot: Bot) -> None:
    def keyboard(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data=data)]])

    await bot.send_message(ALICE, "ok", reply_markup=keyboard("é" * 32))

    with pytest.raises(BadRequest, match="(?i)^button_data_invalid$"):
        await bot.send_message(ALICE, "too long", reply_markup=keyboard("x" * 65))
    with pytest.raises(BadRequest, match="(?i)^button_data_invalid$"):
        await bot.send_message(ALICE, "too long in bytes", reply_markup=keyboard("é" * 33))


async def test_inline_button_needs_exactly_one_action(fake: FakeTelegramApi, bot: Bot) -> None:
    two = {"inline_keyboard": [[{"text": "Go", "url": "https://x.org", "callback_data": "go"}]]}
    none = {"inline_keyboard": [[{"text": "Go"}]]}

    for markup in (two, none):
        with pytest.raises(BadRequest, match="(?i)can't parse inline keyboard button"):
            await bot.send_message(ALICE, "buttons", api_kwargs={"reply_markup": markup})


async def test_a_web_app_button_needs_an_https_url(fake: FakeTelegramApi, bot: Bot) -> None:
    def app(url: str) -> dict[str, object]:
        return {"inline_keyboard": [[{"text": "Open", "web_app": {"url": url}}]]}

    with pytest.raises(BadRequest, match="(?i)only https links are allowed"):
        await bot.send_message(ALICE, "app", api_kwargs={"reply_markup": app("http://x.org/a")})
    sent = await bot.send_message(ALICE, "app", api_kwargs={"reply_markup": app("https://x.org")})
    assert sent.reply_markup is not None


async def test_unknown_chat_is_not_found(fake: FakeTelegramApi, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)^chat not found$"):
        await bot.send_message(999_999, "hello")


async def test_blocked_user_answers_forbidden_until_they_write_again(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    fake.block(ALICE)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE, "hello")

    fake.user_sends_text(ALICE, "/start")
    await bot.send_message(ALICE, "hello again")


async def test_second_message_to_a_private_chat_within_a_second_is_throttled(
    telegram_api: FakeTelegramApi, clock: ManualClock, bot: Bot
) -> None:
    telegram_api.register_chat(ALICE)
    await bot.send_message(ALICE, "one")
    clock.advance(0.4)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ALICE, "two")

    retry_after = caught.value.retry_after  # a timedelta: the fixture sets PTB_TIMEDELTA
    assert isinstance(retry_after, timedelta) and retry_after >= timedelta(seconds=1)
    assert telegram_api.requests_for("sendMessage")[-1].status == 429
    clock.advance(0.6)
    await bot.send_message(ALICE, "two")


async def test_more_than_30_messages_a_second_overall_are_throttled(
    telegram_api: FakeTelegramApi, clock: ManualClock, bot: Bot
) -> None:
    chats = range(1, 32)
    for chat_id in chats:
        telegram_api.register_chat(chat_id)
    for chat_id in chats[:30]:
        await bot.send_message(chat_id, "news")

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(chats[30], "news")

    assert caught.value.retry_after == timedelta(seconds=1)
    clock.advance(1)
    await bot.send_message(chats[30], "news")


async def test_more_than_20_messages_a_minute_to_a_group_are_throttled(
    telegram_api: FakeTelegramApi, clock: ManualClock, bot: Bot
) -> None:
    telegram_api.register_chat(GROUP, title="Staff")
    for _ in range(20):
        await bot.send_message(GROUP, "news")
        clock.advance(1)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "news")

    assert caught.value.retry_after == timedelta(seconds=40)


async def test_outage_answers_bad_gateway_which_ptb_raises_as_network_error(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    fake.outage(1, methods=("sendMessage",))

    with pytest.raises(NetworkError, match="Bad Gateway") as caught:
        await bot.send_message(ALICE, "hello")

    assert type(caught.value) is NetworkError  # BadRequest is a NetworkError too
    await bot.send_message(ALICE, "hello")
    assert [r.status for r in fake.requests_for("sendMessage")] == [502, 200]


async def test_document_upload_is_stored_and_reusable_by_file_id(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    pdf = b"%PDF-1.7 fee table"

    uploaded = await bot.send_document(ALICE, pdf, filename="fees.pdf", caption="Fees")
    assert uploaded.document is not None
    again = await bot.send_document(BOB, uploaded.document.file_id)

    assert uploaded.document.file_name == "fees.pdf"
    assert uploaded.document.mime_type == "application/pdf"
    assert uploaded.document.file_size == len(pdf)
    assert again.document is not None
    assert again.document.file_unique_id == uploaded.document.file_unique_id
    stored = fake.messages_to(ALICE)[0].document
    assert stored is not None and stored.data == pdf
    assert fake.messages_to(BOB)[0].caption is None


async def test_document_by_url_unknown_id_or_too_large_is_refused(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    fake.max_upload_bytes = 1024

    with pytest.raises(BadRequest, match="(?i)failed to get http url content"):
        await bot.send_document(ALICE, "https://example.org/fees.pdf")
    with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
        await bot.send_document(ALICE, "BQACAgIAAxkBAAI-unknown")
    with pytest.raises(NetworkError, match="Request Entity Too Large") as caught:
        await bot.send_document(ALICE, b"x" * 2048, filename="big.bin")
    assert type(caught.value) is NetworkError


async def test_user_document_can_be_fetched_and_downloaded(
    telegram_api: FakeTelegramApi, bot: Bot
) -> None:
    data = b"%PDF-1.7 signed contract"
    update = telegram_api.user_sends_document(ALICE, "contract.pdf", data, "application/pdf")

    file = await bot.get_file(update["message"]["document"]["file_id"])

    assert file.file_path is not None
    assert file.file_path.startswith(f"{telegram_api.base_file_url}{telegram_api.token}/")
    assert await file.download_as_bytearray() == bytearray(data)


async def test_edit_and_delete_follow_the_message(fake: FakeTelegramApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Open", callback_data="open")]])
    message = await bot.send_message(ALICE, "draft", reply_markup=keyboard)

    await bot.edit_message_text("final", chat_id=ALICE, message_id=message.message_id)
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("final", chat_id=ALICE, message_id=message.message_id)
    await bot.delete_message(ALICE, message.message_id)

    assert [s.method for s in fake.sent] == ["sendMessage", "editMessageText"]
    assert fake.sent[1].reply_markup is None
    assert fake.current_message(ALICE, message.message_id) is None
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("gone", chat_id=ALICE, message_id=message.message_id)


async def test_long_poll_wakes_on_a_new_update_and_honours_its_timeout(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9

    async def user_writes_soon() -> None:
        await asyncio.sleep(0.1)
        fake.user_sends_text(ALICE, "hello")

    started = time.monotonic()
    writer = asyncio.create_task(user_writes_soon())
    [update] = await bot.get_updates(timeout=10)
    await writer

    assert time.monotonic() - started < 2
    assert update.message is not None and update.message.text == "hello"
    assert await bot.get_updates(offset=update.update_id + 1) == ()
    assert fake.pending_updates == []


async def test_housekeeping_calls_are_accepted_and_recorded(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    commands = [BotCommand("start", "Start"), BotCommand("documents", "Your documents")]

    assert await bot.set_my_commands(commands)
    assert await bot.send_chat_action(ALICE, "upload_document")
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    chat = await bot.get_chat(ALICE)

    assert await bot.get_my_commands() == tuple(commands)
    assert fake.chat_actions == [(ALICE, "upload_document")]
    assert fake.menu_buttons == {None: {"type": "commands"}}
    assert (chat.type, chat.first_name) == ("private", "Alice")
    with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Not-Valid", "x")])


# --- an Application receiving updates ---------------------------------------------------------


async def test_start_command_arrives_by_long_polling(fake: FakeTelegramApi) -> None:
    application = build_application(fake)
    application.add_handler(CommandHandler("start", reply_with_code))

    async with polling(application):
        update = fake.user_sends_text(ALICE, "/start CODE42")
        [reply] = await fake.wait_for_messages(ALICE)

    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert reply.text == "code=CODE42"
    assert fake.pending_updates == []  # the cleanup getUpdates confirmed it


async def test_duplicate_update_is_delivered_twice(fake: FakeTelegramApi) -> None:
    seen: list[int] = []

    async def remember(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.update_id)

    application = build_application(fake)
    application.add_handler(CommandHandler("start", remember))

    async with polling(application):
        update = fake.user_sends_text(ALICE, "/start X")
        await fake.wait_for(lambda: len(seen) == 1)
        fake.queue_duplicate(update)
        await fake.wait_for(lambda: len(seen) == 2)

    assert seen == [update["update_id"]] * 2


async def test_button_press_is_answered_and_edits_the_message(fake: FakeTelegramApi) -> None:
    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer(f"Opening {query.data}")
        await query.edit_message_text("Opened")

    application = build_application(fake)
    application.add_handler(CallbackQueryHandler(on_press))
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Open", callback_data="doc:7")]])

    async with polling(application):
        message = await application.bot.send_message(ALICE, "Fee table", reply_markup=keyboard)
        fake.user_presses_button(ALICE, message.message_id, "doc:7")
        await fake.wait_for(lambda: fake.requests_for("editMessageText"))

    [answer] = fake.callback_answers
    assert answer.text == "Opening doc:7"
    current = fake.current_message(ALICE, message.message_id)
    assert current is not None
    assert current["text"] == "Opened" and "reply_markup" not in current
    with pytest.raises(ValueError, match="no button"):
        fake.user_presses_button(ALICE, message.message_id, "doc:8")


async def test_rate_limiter_waits_out_the_fakes_429(telegram_api: FakeTelegramApi) -> None:
    telegram_api.register_chat(ALICE)
    application = build_application(telegram_api, rate_limited=True)

    async with application:
        await application.bot.send_message(ALICE, "one")
        await application.bot.send_message(ALICE, "two")

    assert [r.status for r in telegram_api.requests_for("sendMessage")] == [200, 429, 200]
    assert [m.text for m in telegram_api.messages_to(ALICE)] == ["one", "two"]


@contextlib.asynccontextmanager
async def webhook_server(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A tiny aiohttp app on 127.0.0.1 that answers POST /hook; yields its URL."""
    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


async def test_start_command_arrives_by_webhook_with_the_secret(fake: FakeTelegramApi) -> None:
    application = build_application(fake, polling=False)
    application.add_handler(CommandHandler("start", reply_with_code))
    answers = iter([500])

    async def receive(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != "s3cret":
            return web.Response(status=403)
        status = next(answers, 200)
        if status == 200:
            await application.update_queue.put(
                Update.de_json(await request.json(), application.bot)
            )
        return web.Response(status=status)

    async with webhook_server(receive) as url, application:
        await application.start()
        await application.bot.set_webhook(url, secret_token="s3cret")
        update = fake.user_sends_text(BOB, "/start FROM-HOOK")
        [reply] = await fake.wait_for_messages(BOB)
        with pytest.raises(Conflict, match="webhook is active"):
            await application.bot.get_updates()
        info = await application.bot.get_webhook_info()
        await application.bot.delete_webhook()
        await application.stop()

    assert reply.text == "code=FROM-HOOK"
    assert [(d.update_id, d.status) for d in fake.webhook_deliveries] == [
        (update["update_id"], 500),
        (update["update_id"], 200),
    ]
    assert info.url == url and info.pending_update_count == 0
    assert info.last_error_message is not None and "500" in info.last_error_message
