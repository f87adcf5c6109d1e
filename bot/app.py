"""The bot's table of contents: which handler answers which user action, and how the bot starts and stops.

The consent, photo and rating flow these handlers implement is drawn as a state diagram in `bot/README.md`.

Shutdown is graceful: on SIGTERM/SIGINT `serve` stops fetching updates, lets the handlers that are
running finish (a rating is stored before its button press is answered), and only then is the database closed.

A start-up failure that is not a bug (a token Telegram refuses, a server it cannot reach, a model or database
file it cannot use) is raised as a ConfigError: one line saying what to fix, never a traceback or the token.
"""

import asyncio
import contextlib
import logging
import signal

from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (AIORateLimiter, Application, ApplicationBuilder, ApplicationHandlerStop,
                          CallbackQueryHandler, CommandHandler, ContextTypes, Defaults, MessageHandler, TypeHandler,
                          filters)

from bot import account, i18n, selfie, texts, webhook
from bot.config import ConfigError, Settings
from bot.context import BotContext, choose_language
from bot.live_model import LiveModel
from bot.ratelimit import RateLimiter
from db import Database
from db.engine import DATABASE_ERRORS, describe

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
MAX_BUTTON_DATA = 64  # Telegram's own limit on a button's callback data
# A send Telegram answers with 429 "retry after" is retried this often, after the wait it asks (the process's other
# sends wait too); a group gets at most Telegram's 20 messages a minute. No bot-wide pace of our own: Telegram's
# "30 a second" is for broadcasts (this bot only answers what a user just did), it is per bot, not per process, and
# python-telegram-bot's, which counts "typing..." too, held a process to 15 photos a second, its cores half idle.
SEND_RETRIES = 3
ANSWERED_PRESS = "query is too old"  # how Telegram refuses a second answer to a press, or a late one
PURGE_EVERY_SECONDS = 24 * 60 * 60  # data past its keeping time is deleted at start, then about once a day


def build_application(settings: Settings, model: LiveModel) -> Application:
    """The bot with its services, and the handler for each user action."""
    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.bot_api_url)
        .base_file_url(settings.file_api_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(True)  # one user's slow photo never holds up another user's button press
        .rate_limiter(AIORateLimiter(overall_max_rate=0, max_retries=SEND_RETRIES))  # see SEND_RETRIES
        .build()
    )
    application.bot_data.update(settings=settings, model=model)
    application.add_handler(TypeHandler(Update, choose_language), group=-2)  # before any handler below
    application.add_handler(TypeHandler(Update, drop_unanswerable), group=-1)
    application.add_handlers([
        CommandHandler("start", account.start),
        CommandHandler("help", account.help_command),
        CommandHandler("privacy", account.privacy),
        CommandHandler("consent", account.consent_command),
        CommandHandler("mode", account.mode_command),
        CommandHandler("language", account.language_command),
        CommandHandler("moods", account.moods),
        CommandHandler("forget", account.forget_command),
        CommandHandler("stats", account.stats),
        MessageHandler(filters.PHOTO | filters.Document.IMAGE, selfie.photo),
        MessageHandler(filters.Document.ALL, selfie.wrong_file),
        MessageHandler(filters.ALL, selfie.other_message),
        CallbackQueryHandler(account.answer_consent, pattern=r"^consent:(yes|no)$"),
        CallbackQueryHandler(account.change_consent, pattern=r"^consent:(give|withdraw)$"),
        CallbackQueryHandler(account.change_donation, pattern=r"^donate:(on|off)$"),
        CallbackQueryHandler(account.unlearn_face, pattern=r"^face:forget$"),
        CallbackQueryHandler(account.change_mode, pattern=r"^mode:(match|lift)$"),
        CallbackQueryHandler(account.change_language, pattern=rf"^language:({'|'.join(i18n.LANGUAGES)})$"),
        CallbackQueryHandler(account.answer_forget, pattern=r"^forget:(yes|no)$"),
        CallbackQueryHandler(selfie.rate, pattern=r"^rate:\d{1,18}:(up|down)$"),  # 18 digits fit SQLite's integer
        CallbackQueryHandler(selfie.open_mood_picker, pattern=r"^fix$"),
        CallbackQueryHandler(selfie.close_mood_picker, pattern=r"^fix:cancel$"),
        CallbackQueryHandler(selfie.skip_mood, pattern=r"^fix:skip$"),
        CallbackQueryHandler(selfie.pick_mood, pattern=r"^mood:\w+$"),
        CallbackQueryHandler(unknown_button),
    ])
    application.add_error_handler(on_error)
    return application


def run(settings: Settings) -> None:
    """Load the model and run the bot until SIGINT/SIGTERM: long polling, or a webhook if WEBHOOK_URL is set."""
    try:
        model = LiveModel(settings.model_path, settings.model_check_seconds)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ConfigError(f"Cannot load the emotion model {settings.model_path} (MODEL_PATH) or its .json "
                          f"metadata: {_first_line(error)}") from None
    log.info("Model version %s loaded from %s", model.version, model.path)
    application = build_application(settings, model)
    try:
        asyncio.run(serve(application, settings))
    except InvalidToken:
        raise ConfigError(f"The Bot API server at {settings.api_base_url} refused TELEGRAM_BOT_TOKEN: check the token "
                          "with @BotFather (and TELEGRAM_API_BASE_URL, if you run your own server).") from None
    except NetworkError as error:
        raise ConfigError(f"Cannot reach the Bot API server at {settings.api_base_url} (TELEGRAM_API_BASE_URL): "
                          f"{_first_line(error)}") from None


async def serve(application: Application, settings: Settings) -> None:
    """Take updates until SIGINT/SIGTERM, then stop taking them, let running handlers finish, close the services.

    python-telegram-bot's run_polling/run_webhook do the same, but log a start-up failure with a traceback and
    come with a webhook server that reads whole bodies before checking the secret (see bot/webhook.py).
    """
    stopping = asyncio.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(stop_signal, stopping.set)
    await application.initialize()
    try:
        await open_services(application)
        await application.start()
        try:
            if settings.webhook_url:
                async with webhook.listening(application, settings, ALLOWED_UPDATES):
                    await stopping.wait()
            else:
                await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
                await stopping.wait()
                await application.updater.stop()
        finally:
            await application.stop()
    finally:
        await application.shutdown()
        await close_services(application)


async def open_services(application: Application) -> None:
    """Open (and migrate) the database and the rate limit kept in it, publish the command menu, reload the model on
    SIGHUP, and start deleting data past its keeping time."""
    settings: Settings = application.bot_data["settings"]
    try:
        application.bot_data["db"] = database = await Database.open(settings.database)
    except (OSError, RuntimeError, *DATABASE_ERRORS) as error:
        raise ConfigError(f"Cannot use the database {describe(settings.database)} (DATABASE_URL or DATABASE_PATH): "
                          f"{_first_line(error)}") from None
    log.info("Database open at %s", describe(settings.database))
    application.bot_data["limiter"] = RateLimiter(database, settings.photos_per_minute)
    await publish_command_menus(application.bot, settings.admin_user_ids)
    model: LiveModel = application.bot_data["model"]
    loop = asyncio.get_running_loop()
    if hasattr(signal, "SIGHUP"):
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, model.reload_if_changed, True))
    application.bot_data["purge"] = asyncio.create_task(
        purge_expired_data(application.bot_data["db"], settings.retention_days), name="purge_expired_data")


async def purge_expired_data(database: Database, retention_days: int) -> None:
    """Delete the data past its keeping time now, then about once a day, until cancelled at shutdown.

    Other bot processes may be doing the same: the deletes are idempotent, so that is harmless.
    """
    while True:
        try:
            deleted = await database.delete_expired(retention_days)
        except Exception:  # a database error, logged; the bot keeps answering and the next purge tries again
            log.exception("Could not delete the data past its keeping time; trying again in a day")
        else:
            log.info("Deleted past their keeping time (readings and suggestions: %d days): %s", retention_days,
                     ", ".join(f"{table} {count}" for table, count in deleted.items()))
        await asyncio.sleep(PURGE_EVERY_SECONDS)


async def publish_command_menus(bot, admin_user_ids: frozenset[int]) -> None:
    """The command menu in every shipped language (English for all others), and with /stats for admins."""
    for language in i18n.LANGUAGES:
        tr = i18n.translator(language)
        code = None if language == i18n.DEFAULT_LANGUAGE else i18n.menu_language_code(language)
        commands = [BotCommand(name, tr(description)) for name, description in texts.COMMANDS.items()]
        await bot.set_my_commands(commands, language_code=code)
        admin_commands = commands + [BotCommand(name, tr(description))
                                     for name, description in texts.ADMIN_COMMANDS.items()]
        for admin_id in admin_user_ids:
            try:
                await bot.set_my_commands(admin_commands, scope=BotCommandScopeChat(admin_id), language_code=code)
            except TelegramError as error:  # the admin has not talked to the bot yet: /stats still works when typed
                log.warning("Could not show /stats in the menu of admin %s: %s", admin_id, error)


async def close_services(application: Application) -> None:
    """Stop the purge, and close the database once every running handler has finished."""
    purge = application.bot_data.pop("purge", None)
    if purge is not None:
        purge.cancel()  # a purge half way rolls back its batch; what it deleted before stays deleted
        with contextlib.suppress(asyncio.CancelledError):
            await purge
    database = application.bot_data.get("db")
    if database is not None:
        await database.close()
        log.info("Database closed")


async def drop_unanswerable(update: Update, context: BotContext) -> None:
    """Before any handler: drop an update from no user, and answer a press without data or message (forged, or
    from a message the bot cannot see) as out of date, so that it never reaches a handler that acts on it."""
    if update.effective_user is None:
        log.info("Update %s ignored: it comes from no user", update.update_id)
        raise ApplicationHandlerStop
    query = update.callback_query
    if query is not None and (not query.data or len(query.data.encode()) > MAX_BUTTON_DATA or query.message is None):
        await unknown_button(update, context)
        raise ApplicationHandlerStop


async def unknown_button(update: Update, context: BotContext) -> None:
    """Answer a press on a button this version of the bot no longer knows."""
    await update.callback_query.answer(context.tr(texts.OUT_OF_DATE_BUTTON))


async def on_error(update: object, context: BotContext) -> None:
    """Log a failure with what the user was doing, and apologise to them."""
    if not isinstance(update, Update):
        log.error("Error outside of any user update", exc_info=context.error)
        return
    if isinstance(context.error, BadRequest) and ANSWERED_PRESS in context.error.message.lower():
        # A press Telegram delivered again (the process it first went to died before saying it had it) was
        # answered the first time; the rest of its handling is repeatable (a rating is stored once).
        log.info("Update %s (%s): Telegram no longer takes an answer to this press (answered already, or too late)",
                 update.update_id, _action(update))
        return
    log.error("Error handling update %s (%s) from user %s in chat %s", update.update_id, _action(update),
              update.effective_user and update.effective_user.id, update.effective_chat and update.effective_chat.id,
              exc_info=context.error)
    # In the language of the user's Telegram app: the database, where a chosen language is kept, may be what failed.
    telegram_language = update.effective_user.language_code if update.effective_user else None
    sorry = i18n.translator(i18n.language_of(telegram_language))(texts.SORRY)
    try:
        if update.callback_query:
            await update.callback_query.answer(sorry, show_alert=True)
        elif update.effective_message:
            await update.effective_message.reply_text(sorry)
    except TelegramError as error:
        log.warning("Could not apologise for update %s either: %s", update.update_id, error)


def _action(update: Update) -> str:
    """What the user did, for the log: never the content of a message or a photo."""
    if update.callback_query:
        return f"pressed {(update.callback_query.data or '')[:MAX_BUTTON_DATA]!r}"
    message = update.effective_message
    if message is None:
        return "no message"
    if message.photo:
        return "sent a photo"
    if message.document:
        return f"sent a {message.document.mime_type} document"
    command = message.text.split()[0] if message.text and message.text.startswith("/") else None
    return f"sent {command}" if command else "sent a message"


def _first_line(error: BaseException) -> str:
    """An exception's message without the detail some libraries add on further lines."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
