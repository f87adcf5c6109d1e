"""Handlers for everything about the user rather than a photo: greeting, consent, language, mode, privacy, /moods,
/forget, /stats."""

import html
from datetime import datetime, timezone

from telegram import InlineKeyboardMarkup, Update

from bot import i18n, keyboards, texts
from bot.context import BotContext, consented_user, show
from bot.mood_chart import draw_mood_chart, first_day, journal_caption
from bot.replies import stats_text
from db import User


async def start(update: Update, context: BotContext) -> None:
    """Greet the user, say what happens to photos, and ask for consent and their age (unless already given)."""
    user = await context.db.get_user(update.effective_user.id)
    name = html.escape(update.effective_user.first_name)
    if user is not None and user.consent_given:
        await update.effective_message.reply_text(context.tr(texts.WELCOME_BACK, name=name))
    else:
        age = context.settings.consent_min_age
        await update.effective_message.reply_text(context.tr(texts.GREETING, name=name, age=age),
                                                  reply_markup=keyboards.consent_buttons(context.tr, age))


async def help_command(update: Update, context: BotContext) -> None:
    """Explain how to use the bot and list the commands."""
    await update.effective_message.reply_text(context.tr(texts.HELP))


async def privacy(update: Update, context: BotContext) -> None:
    """Explain what is stored, for how long, and how to erase it."""
    settings = context.settings
    await update.effective_message.reply_text(texts.privacy_text(context.tr, settings.retention_days,
                                                                 settings.consent_min_age))


async def answer_consent(update: Update, context: BotContext) -> None:
    """Record the answer to the greeting's (or a reminder's) consent question, and say what happens next."""
    query = update.callback_query
    given = query.data == "consent:yes"
    await _set_consent(update, context, given)
    await query.answer(context.tr(texts.THANK_YOU if given else texts.OKAY))
    await show(query, context.tr(texts.CONSENT_GIVEN if given else texts.CONSENT_DECLINED))


async def consent_command(update: Update, context: BotContext) -> None:
    """Show whether and when the user consented, with buttons to change it, to donate face crops and to unlearn
    their face."""
    text, buttons = await _consent_view(context, await context.db.get_user(update.effective_user.id))
    await update.effective_message.reply_text(text, reply_markup=buttons)


async def change_consent(update: Update, context: BotContext) -> None:
    """Give or withdraw consent from the /consent view, and show the new state."""
    query = update.callback_query
    given = query.data == "consent:give"
    user = await _set_consent(update, context, given)
    await query.answer(context.tr(texts.CONSENT_GIVEN_SHORT if given else texts.CONSENT_WITHDRAWN_SHORT))
    text, buttons = await _consent_view(context, user)
    await show(query, text if given else f"{context.tr(texts.CONSENT_WITHDRAWN)}\n\n{text}", buttons)


async def change_donation(update: Update, context: BotContext) -> None:
    """Switch face-crop donation on or off from the /consent view, and show the new state."""
    query = update.callback_query
    if await consented_user(update, context) is None:
        return
    donate = query.data == "donate:on"
    async with context.db.user_lock(update.effective_user.id):  # a photo being answered now keeps no crop
        user = await context.db.set_donation(update.effective_user.id, donate)  # off: crops deleted
    await query.answer(context.tr(texts.DONATION_ON if donate else texts.DONATION_OFF))
    await show(query, *await _consent_view(context, user))


async def unlearn_face(update: Update, context: BotContext) -> None:
    """Forget what the user's corrections taught about their face (from the /consent view), and show the new state."""
    query = update.callback_query
    user = await consented_user(update, context)
    if user is None:
        return
    async with context.db.user_lock(user.user_id):  # a photo being answered now is read as before, or as anyone's
        await context.db.forget_face(user.user_id)
    await query.answer(context.tr(texts.FACE_UNLEARNT))
    await show(query, *await _consent_view(context, user))


async def language_command(update: Update, context: BotContext) -> None:
    """Offer the languages the bot speaks, the current one ticked."""
    await update.effective_message.reply_text(context.tr(texts.LANGUAGE_QUESTION),
                                              reply_markup=keyboards.language_buttons(context.tr.language))


async def change_language(update: Update, context: BotContext) -> None:
    """Store the chosen language with the user, and answer in it from this very message on."""
    query = update.callback_query
    language = query.data.removeprefix("language:")
    await context.db.set_language(update.effective_user.id, language)
    context.tr = i18n.translator(language)
    await query.answer(context.tr(texts.LANGUAGE_CHOSEN))
    await show(query, context.tr(texts.LANGUAGE_CHOSEN), keyboards.language_buttons(language))


async def mode_command(update: Update, context: BotContext) -> None:
    """Show the song mode (match or lift the mood) with buttons to switch it."""
    user = await consented_user(update, context)
    if user is not None:
        await update.effective_message.reply_text(texts.mode_text(context.tr, user.mode),
                                                  reply_markup=keyboards.mode_buttons(context.tr, user.mode))


async def change_mode(update: Update, context: BotContext) -> None:
    """Switch between matching and lifting the mood, and tick the new choice."""
    query = update.callback_query
    user = await consented_user(update, context)
    if user is None:
        return
    mode = query.data.removeprefix("mode:")
    if mode == user.mode:
        await query.answer(context.tr(texts.MODE_ALREADY))
        return
    user = await context.db.set_mode(user.user_id, mode)
    await query.answer(context.tr(texts.MODE_CHANGED))
    await show(query, texts.mode_text(context.tr, user.mode), keyboards.mode_buttons(context.tr, user.mode))


async def moods(update: Update, context: BotContext) -> None:
    """A picture of the user's moods over the last weeks (read and corrected) and the songs they liked most."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    journal = await context.db.mood_journal(update.effective_user.id, first_day(today))
    if journal.empty:
        await update.effective_message.reply_text(context.tr(texts.NO_MOODS_YET))
        return
    await update.effective_message.reply_photo(draw_mood_chart(journal, today),
                                               caption=journal_caption(context.tr, journal, today))


async def forget_command(update: Update, context: BotContext) -> None:
    """Ask for confirmation before deleting everything about the user."""
    await update.effective_message.reply_text(context.tr(texts.FORGET_QUESTION),
                                              reply_markup=keyboards.forget_buttons(context.tr))


async def answer_forget(update: Update, context: BotContext) -> None:
    """Delete every row about the user (if confirmed), and say so."""
    query = update.callback_query
    if query.data != "forget:yes":
        await query.answer()
        await show(query, context.tr(texts.FORGET_CANCELLED))
        return
    async with context.db.user_lock(update.effective_user.id):  # a photo being read now is dropped, not answered
        deleted = await context.db.forget_user(update.effective_user.id)
    await query.answer(context.tr(texts.FORGET_CONFIRMED))
    await show(query, texts.forget_done(context.tr, sum(deleted.values())))


async def stats(update: Update, context: BotContext) -> None:
    """Show admins the key production figures."""
    if update.effective_user.id not in context.settings.admin_user_ids:
        await update.effective_message.reply_text(context.tr(texts.ADMINS_ONLY))
        return
    await update.effective_message.reply_text(stats_text(await context.db.stats(), context.model.version))


async def _consent_view(context: BotContext, user: User | None) -> tuple[str, InlineKeyboardMarkup]:
    """What /consent shows (text and buttons): consent, crop donation, and how many corrections teach their face."""
    corrections = await context.db.face_corrections(user.user_id) if user is not None and user.consent_given else 0
    return (texts.consent_text(context.tr, user, corrections),
            keyboards.consent_settings(context.tr, user, context.settings.consent_min_age, face_learnt=corrections > 0))


async def _set_consent(update: Update, context: BotContext, given: bool) -> User | None:
    """Store consent given or withdrawn; declining stores nothing for someone who never agreed."""
    user_id = update.effective_user.id
    async with context.db.user_lock(user_id):  # a photo being read now is dropped, not answered
        if not given:
            await context.forget_photos(user_id)
            user = await context.db.get_user(user_id)
            if user is None or not user.consent_given:
                return user
        return await context.db.set_consent(user_id, given)
