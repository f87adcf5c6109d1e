"""What every handler has at hand: the database, the model, the rate limit, the settings and the user's language,
plus the little the bot remembers in memory between a selfie's answer and the user's correction of it.
"""

import asyncio
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from telegram import CallbackQuery, InlineKeyboardMarkup, MaybeInaccessibleMessage, Update
from telegram.error import BadRequest
from telegram.ext import CallbackContext, ExtBot

from bot import i18n, keyboards, texts
from bot.config import Settings
from bot.live_model import LiveModel
from bot.ratelimit import RateLimiter
from db import Database, User

PHOTOS_REMEMBERED = 5  # per user: the last few answers can still be corrected


@dataclass(frozen=True)
class ReadPhoto:
    """What the bot keeps in memory about an answered selfie (never the photo), so the guess can be corrected."""

    predicted: str
    probabilities: dict[str, float]
    model_version: str
    face48: bytes | None  # only for users donating crops
    song_buttons: InlineKeyboardMarkup | None  # to put back when the user leaves the mood picker


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

    def user_lock(self, user_id: int) -> asyncio.Lock:
        """Held while the user's data changes (consent, /forget) and while an answer about them is stored and sent,
        so that a photo still being read when they withdraw consent or erase their data stores and sends nothing."""
        locks = self.bot_data.setdefault("user_locks", weakref.WeakValueDictionary())
        lock = locks.get(user_id)
        if lock is None:
            lock = locks[user_id] = asyncio.Lock()
        return lock

    def remember_photo(self, answer: MaybeInaccessibleMessage, photo: ReadPhoto) -> None:
        """Remember the photo answered in message `answer`, forgetting the oldest beyond a few."""
        photos = self.user_data.setdefault("photos", OrderedDict())
        photos[_key(answer)] = photo
        while len(photos) > PHOTOS_REMEMBERED:
            photos.popitem(last=False)

    def recall_photo(self, answer: MaybeInaccessibleMessage) -> ReadPhoto | None:
        return self.user_data.get("photos", {}).get(_key(answer))

    def drop_photo(self, answer: MaybeInaccessibleMessage) -> None:
        self.user_data.get("photos", {}).pop(_key(answer), None)

    def forget_photos(self) -> None:
        """Drop everything remembered about the user's photos (consent withdrawn, donation off, /forget)."""
        self.user_data.pop("photos", None)


async def choose_language(update: Update, context: BotContext) -> None:
    """Before every handler: speak the language the user chose with /language, or else their Telegram app's."""
    telegram_user = update.effective_user
    if telegram_user is None:
        return
    user = await context.db.get_user(telegram_user.id)
    chosen = user.language if user is not None else None
    context.tr = i18n.translator(chosen or i18n.language_of(telegram_user.language_code))


async def consented_user(update: Update, context: BotContext) -> User | None:
    """The user if they have given consent; otherwise a reminder (with the consent buttons) and None."""
    user = await context.db.get_user(update.effective_user.id)
    if user is not None and user.consent_given:
        return user
    if update.callback_query:
        await update.callback_query.answer(context.tr(texts.CONSENT_FIRST), show_alert=True)
    elif context.limiter.first_refusal(update.effective_user.id):  # a flood of photos gets one reminder
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


def _key(message: MaybeInaccessibleMessage) -> tuple[int, int]:
    """Message ids count per chat: a photo is remembered by chat and message."""
    return message.chat.id, message.message_id
