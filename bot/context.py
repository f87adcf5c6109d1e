"""What every handler has at hand: the database, the model, the rate limit, the settings and the user's language.

Nothing a later update needs is kept in this process's memory: an answered selfie, the rate-limit counts and the
user's lock live in the database, so that any of several bot processes (replicas) can take the next update.
"""

import re

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import CallbackContext, ExtBot

from bot import i18n, keyboards, texts
from bot.config import Settings
from bot.live_model import LiveModel
from bot.ratelimit import RateLimiter
from db import AnsweredPhoto, Database, User

PHOTOS_REMEMBERED = 5  # per user: the last few answers can still be corrected


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """The callback context with the bot's services as attributes, and `tr`: the bot's texts in the user's language
    (set by `choose_language` before any handler runs; English until then)."""

    tr: i18n.Translator = i18n.translator(i18n.DEFAULT_LANGUAGE)

    @property
    def db(self) -> Database:
        return self.bot_data["db"]

    @property
    def model(self) -> LiveModel:
        return self.bot_data["model"]

    @property
    def limiter(self) -> RateLimiter:
        return self.bot_data["limiter"]

    @property
    def settings(self) -> Settings:
        return self.bot_data["settings"]

    async def remember_photo(self, answer: Message, user_id: int, photo: AnsweredPhoto) -> None:
        """Remember the user's photo answered in message `answer`, forgetting their oldest beyond a few."""
        await self.db.remember_photo(answer.chat.id, answer.message_id, user_id, photo, keep=PHOTOS_REMEMBERED)

    async def recall_photo(self, query: CallbackQuery) -> AnsweredPhoto | None:
        """The photo answered in the message under the pressed button, if it is still remembered."""
        return await self.db.recall_photo(*_key(query))

    async def drop_photo(self, query: CallbackQuery) -> bool:
        """Forget the photo answered in the message under the pressed button; says whether it was remembered."""
        return await self.db.drop_photo(*_key(query))

    async def forget_photos(self, user_id: int) -> None:
        """Forget every photo answered to the user (consent withdrawn)."""
        await self.db.forget_photos(user_id)


async def choose_language(update: Update, context: BotContext) -> None:
    """Before every handler: speak the language the user chose with /language, or else their Telegram app's."""
    telegram_user = update.effective_user
    if telegram_user is None:
        return
    user = await context.db.get_user(telegram_user.id)
    chosen = user.language if user is not None else None
    context.tr = i18n.translator(chosen or i18n.language_of(telegram_user.language_code))


def song_language(chosen: str | None, telegram_code: str | None) -> str | None:
    """The language a user's songs lean towards until their thumbs say otherwise (`db.taste`): the one they chose
    with /language, else their Telegram app's, as a two-letter code ("pt_BR", "pt-br" -> "pt")."""
    code = chosen or telegram_code
    return re.split(r"[-_]", code)[0].lower() if code else None


async def consented_user(update: Update, context: BotContext) -> User | None:
    """The user if they have given consent; otherwise a reminder (with the consent buttons) and None."""
    user = await context.db.get_user(update.effective_user.id)
    if user is not None and user.consent_given:
        return user
    if update.callback_query:
        await update.callback_query.answer(context.tr(texts.CONSENT_FIRST), show_alert=True)
    elif await context.limiter.first_refusal(update.effective_user.id):  # a flood of photos gets one reminder
        age = context.settings.consent_min_age
        await update.effective_message.reply_text(context.tr(texts.CONSENT_NEEDED, age=age),
                                                  reply_markup=keyboards.consent_buttons(context.tr, age))
    return None


async def show(query: CallbackQuery, text: str | None = None, buttons: InlineKeyboardMarkup | None = None) -> None:
    """Edit the message under a pressed button to show the new state (new text and/or buttons).

    Telegram refuses an edit that changes nothing, which a double tap easily causes; that is not an error here.
    """
    try:
        if text is None:
            await query.edit_message_reply_markup(buttons)
        else:
            await query.edit_message_text(text, reply_markup=buttons)
    except BadRequest as error:
        if "not modified" not in error.message:
            raise


def _key(query: CallbackQuery) -> tuple[int, int, int]:
    """Message ids count per chat: a photo is remembered by chat and message, and only for the user it was sent to."""
    return query.message.chat.id, query.message.message_id, query.from_user.id
