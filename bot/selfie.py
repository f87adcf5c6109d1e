"""Handlers for the selfie flow: photo → mood and songs → 👍/👎 ratings, and "that's not my mood" corrections.

The photo is downloaded into memory, read by the model in a worker thread (so a slow photo never stalls
other users) and dropped; only the mood, the suggestions, ratings and corrections reach the database.
"""

import asyncio
import html
import logging
import math

from telegram import Document, InlineKeyboardMarkup, Message, PhotoSize, Update
from telegram import User as TelegramUser
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from bot import keyboards, texts
from bot.context import BotContext, consented_user, show, song_language
from bot.i18n import N_
from bot.replies import corrected_text, one_hot, read_mood, result_text
from db import AnsweredPhoto, Suggestion, User, recommender
from model import ImageError
from model.decode import MAX_BYTES
from model.preprocess import LABELS

log = logging.getLogger(__name__)

SONGS_PER_ANSWER = recommender.ANSWER_SIZE  # the answer size whose candidate pools are prepared in advance


async def photo(update: Update, context: BotContext) -> None:
    """Read the mood in a selfie (a photo or an image file) and answer with songs to rate."""
    message = update.effective_message
    user = await consented_user(update, context)
    if user is None:
        return
    if not await context.limiter.allow(user.user_id, update.update_id):
        if await context.limiter.first_refusal(user.user_id):  # a flood is answered once
            await message.reply_text(context.tr(texts.SLOW_DOWN, limit=context.limiter.limit))
        return
    attachment = message.photo[-1] if message.photo else message.document
    if (attachment.file_size or 0) > MAX_BYTES:
        await message.reply_text(context.tr(texts.FILE_TOO_BIG, size=_megabytes(attachment.file_size),
                                            limit=MAX_BYTES // 2**20))
        return
    await message.reply_chat_action(ChatAction.TYPING)
    photo_bytes = await _download(attachment, message, context)
    if photo_bytes is None:
        return
    try:
        faces, model_version = await asyncio.get_running_loop().run_in_executor(
            None, context.model.analyze, photo_bytes)
    except ImageError as error:
        log.info("Unreadable image from user %s: %s", user.user_id, error.kind)
        await message.reply_text(context.tr(texts.IMAGE_PROBLEMS.get(error.kind, texts.IMAGE_PROBLEMS["not_image"])))
        return
    finally:
        del photo_bytes  # the photo leaves memory as soon as it has been read
    async with context.db.user_lock(user.user_id):
        user = await context.db.get_user(user.user_id)
        if user is None or not user.consent_given:  # withdrawn, or /forget, while the photo was being read
            log.info("Photo of user %s dropped unanswered: consent withdrawn while it was read",
                     update.effective_user.id)
            return
        await _answer(message, context, user, faces, model_version)


async def _answer(message: Message, context: BotContext, user: User, faces: list, model_version: str) -> None:
    """Store the reading and suggestions for a read photo and send them (the user's lock is held)."""
    if not faces:
        await message.reply_text(context.tr(texts.NO_FACE))
        return
    face = faces[0]  # read as the user's own corrections taught (model/personal.py)
    probabilities = await context.db.personal_probabilities(user.user_id, face.probabilities, model_version)
    reading = read_mood(probabilities, face.probabilities)
    reading_id = await context.db.record_reading(user.user_id, probabilities, model_version, face.probabilities)
    if reading.verdict == "cant_tell":
        suggestions, buttons = [], keyboards.mood_picker(context.tr, correcting=False)
    else:
        suggestions = await _songs(context, user, message.from_user, probabilities, reading.emotion, model_version)
        buttons = keyboards.song_buttons(context.tr, [suggestion.suggestion_id for suggestion in suggestions])
    answer = await message.reply_text(result_text(context.tr, reading, len(faces), suggestions, user.mode),
                                      reply_markup=buttons)
    await context.remember_photo(answer, user.user_id, AnsweredPhoto(
        predicted=reading.emotion, probabilities=dict(face.probabilities), model_version=model_version,
        face48=face.face48.tobytes() if user.donate_crops else None,
        song_buttons=buttons.to_dict() if suggestions else None, reading_id=reading_id))


async def _songs(context: BotContext, user: User, telegram_user: TelegramUser, probabilities: dict[str, float],
                 emotion: str, model_version: str) -> list[Suggestion]:
    """Songs for the mood, in the user's mode, picked by their taste (their language as its first hint)."""
    return await context.db.recommend(user.user_id, probabilities, user.mode, n=SONGS_PER_ANSWER,
                                      model_version=model_version, emotion=emotion,
                                      language=song_language(user.language, telegram_user.language_code))


async def _download(attachment: PhotoSize | Document, message: Message, context: BotContext) -> bytes | None:
    """The photo's bytes, in memory; None (the user told what happened) when Telegram cannot hand it over."""
    try:
        return bytes(await (await attachment.get_file()).download_as_bytearray())
    except BadRequest as error:
        if "too big" not in error.message.lower():
            raise
        await message.reply_text(context.tr(texts.FILE_TOO_BIG_TO_DOWNLOAD, limit=MAX_BYTES // 2**20))
        return None
    except TelegramError as error:
        log.warning("Could not download the photo of user %s: %s", message.from_user.id, error)
        await message.reply_text(context.tr(texts.DOWNLOAD_FAILED))
        return None


def _megabytes(size: int) -> float:
    """Rounded up to a tenth, so a file just over the limit never reads as the limit itself."""
    return math.ceil(size / 2**20 * 10) / 10


async def wrong_file(update: Update, context: BotContext) -> None:
    """Explain that only images can be read, naming the kind of file that was sent."""
    document = update.effective_message.document
    answer = (context.tr(texts.WRONG_FILE_TYPE, kind=html.escape(document.mime_type)) if document.mime_type
              else context.tr(texts.WRONG_FILE_UNKNOWN_TYPE))
    await update.effective_message.reply_text(answer)


async def other_message(update: Update, context: BotContext) -> None:
    """Point the user to selfies and /help."""
    await update.effective_message.reply_text(context.tr(texts.OTHER_MESSAGE))


async def rate(update: Update, context: BotContext) -> None:
    """Store the user's 👍/👎 for a song (pressing again changes it) and tick it under the message."""
    query = update.callback_query
    async with context.db.user_lock(update.effective_user.id):
        user = await consented_user(update, context)
        if user is None:
            return
        suggestion_id, thumbs_up = keyboards.parse_rating(query.data)
        try:
            await context.db.rate(user.user_id, suggestion_id, thumbs_up)
        except LookupError:
            await query.answer(context.tr(texts.SUGGESTION_GONE), show_alert=True)
            return
    # Stored before it is acknowledged: an answered press is a saved rating, even if the bot stops right now.
    await query.answer(context.tr(N_("Saved 👍, thanks!") if thumbs_up else N_("Saved 👎, thanks!")))
    if isinstance(query.message, Message) and query.message.reply_markup:
        ticked = keyboards.with_rating(query.message.reply_markup, suggestion_id, thumbs_up)
        if ticked != query.message.reply_markup:
            await show(query, buttons=ticked)


async def open_mood_picker(update: Update, context: BotContext) -> None:
    """Offer the other emotions under a guess the user says is wrong."""
    query = update.callback_query
    async with context.db.user_lock(update.effective_user.id):  # an answer still being stored is waited for
        read = await context.recall_photo(query)
    if read is None:
        await query.answer(context.tr(texts.OLD_PHOTO), show_alert=True)
        return
    await query.answer(context.tr(N_("Which one is it?")))
    await show(query, buttons=keyboards.mood_picker(context.tr, (label for label in LABELS if label != read.predicted)))


async def close_mood_picker(update: Update, context: BotContext) -> None:
    """Put the song buttons back when the user leaves the mood picker."""
    query = update.callback_query
    async with context.db.user_lock(update.effective_user.id):  # an answer still being stored is waited for
        read = await context.recall_photo(query)
    await query.answer()
    if read is not None and read.song_buttons is not None:
        await show(query, buttons=InlineKeyboardMarkup.de_json(read.song_buttons, context.bot))


async def skip_mood(update: Update, context: BotContext) -> None:
    """Leave the "how do you feel?" question unanswered: nothing more is stored, the photo is forgotten."""
    query = update.callback_query
    async with context.db.user_lock(update.effective_user.id):  # an answer still being stored is waited for
        await context.drop_photo(query)
    await query.answer()
    await show(query, context.tr(texts.SKIPPED))


async def pick_mood(update: Update, context: BotContext) -> None:
    """Store the mood the user picked as feedback on the model, and suggest songs for it instead."""
    query = update.callback_query
    async with context.db.user_lock(update.effective_user.id):
        user = await consented_user(update, context)
        if user is None:
            return
        emotion = query.data.removeprefix("mood:")
        read = await context.recall_photo(query)
        if read is None or emotion not in LABELS or not await context.drop_photo(query):  # one pick per photo
            await query.answer(context.tr(texts.OLD_PHOTO), show_alert=True)
            return
        await context.db.record_emotion_feedback(user.user_id, read.predicted, emotion, read.probabilities,
                                                 read.model_version, read.face48 if user.donate_crops else None,
                                                 read.reading_id)
        suggestions = await _songs(context, user, update.effective_user, one_hot(emotion), emotion,
                                   read.model_version)
        await query.answer(context.tr(N_("Thanks, noted!")))
        await show(query, corrected_text(context.tr, emotion, suggestions, user.mode),
                   keyboards.song_buttons(context.tr, [suggestion.suggestion_id for suggestion in suggestions],
                                          with_fix=False))
