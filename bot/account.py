"""Handlers for everything about the user rather than a photo: greeting, consent, mode, privacy, /forget, /stats."""

import html

from telegram import Update

from bot import keyboards, texts
from bot.context import BotContext, consented_user, show
from bot.replies import stats_text
from db import User


async def start(update: Update, context: BotContext) -> None:
    """Greet the user, say what happens to photos, and ask for consent (unless already given)."""
    user = await context.db.get_user(update.effective_user.id)
    name = html.escape(update.effective_user.first_name)
    if user is not None and user.consent_given:
        await update.effective_message.reply_text(texts.WELCOME_BACK.format(name=name))
    else:
        await update.effective_message.reply_text(texts.GREETING.format(name=name),
                                                  reply_markup=keyboards.consent_buttons())


async def help_command(update: Update, context: BotContext) -> None:
    """Explain how to use the bot and list the commands."""
    await update.effective_message.reply_text(texts.HELP)


async def privacy(update: Update, context: BotContext) -> None:
    """Explain what is stored, for how long, and how to erase it."""
    await update.effective_message.reply_text(texts.PRIVACY)


async def answer_consent(update: Update, context: BotContext) -> None:
    """Record the answer to the greeting's (or a reminder's) consent question, and say what happens next."""
    query = update.callback_query
    given = query.data == "consent:yes"
    await _set_consent(update, context, given)
    await query.answer("Thank you!" if given else "Okay.")
    await show(query, texts.CONSENT_GIVEN if given else texts.CONSENT_DECLINED)


async def consent_command(update: Update, context: BotContext) -> None:
    """Show whether and when the user consented, with buttons to change it and to donate face crops."""
    user = await context.db.get_user(update.effective_user.id)
    await update.effective_message.reply_text(texts.consent_text(user), reply_markup=keyboards.consent_settings(user))


async def change_consent(update: Update, context: BotContext) -> None:
    """Give or withdraw consent from the /consent view, and show the new state."""
    query = update.callback_query
    given = query.data == "consent:give"
    user = await _set_consent(update, context, given)
    await query.answer("Consent given." if given else "Consent withdrawn.")
    text = texts.consent_text(user) if given else f"{texts.CONSENT_WITHDRAWN}\n\n{texts.consent_text(user)}"
    await show(query, text, keyboards.consent_settings(user))


async def change_donation(update: Update, context: BotContext) -> None:
    """Switch face-crop donation on or off from the /consent view, and show the new state."""
    query = update.callback_query
    if await consented_user(update, context) is None:
        return
    donate = query.data == "donate:on"
    user = await context.db.set_donation(update.effective_user.id, donate)
    if not donate:
        context.forget_photos()
    await query.answer("Thank you for helping me learn!" if donate else "Donation off; your crops are deleted.")
    await show(query, texts.consent_text(user), keyboards.consent_settings(user))


async def mode_command(update: Update, context: BotContext) -> None:
    """Show the song mode (match or lift the mood) with buttons to switch it."""
    user = await consented_user(update, context)
    if user is not None:
        await update.effective_message.reply_text(texts.mode_text(user.mode), reply_markup=keyboards.mode_buttons(user.mode))


async def change_mode(update: Update, context: BotContext) -> None:
    """Switch between matching and lifting the mood, and tick the new choice."""
    query = update.callback_query
    user = await consented_user(update, context)
    if user is None:
        return
    mode = query.data.removeprefix("mode:")
    if mode == user.mode:
        await query.answer("That's already your mode.")
        return
    user = await context.db.set_mode(user.user_id, mode)
    await query.answer("Mode changed.")
    await show(query, texts.mode_text(user.mode), keyboards.mode_buttons(user.mode))


async def forget_command(update: Update, context: BotContext) -> None:
    """Ask for confirmation before deleting everything about the user."""
    await update.effective_message.reply_text(texts.FORGET_QUESTION, reply_markup=keyboards.forget_buttons())


async def answer_forget(update: Update, context: BotContext) -> None:
    """Delete every row about the user (if confirmed) and everything remembered in memory, and say so."""
    query = update.callback_query
    if query.data != "forget:yes":
        await query.answer()
        await show(query, texts.FORGET_CANCELLED)
        return
    async with context.user_lock(update.effective_user.id):  # a photo being read now is dropped, not answered
        deleted = await context.db.forget_user(update.effective_user.id)
        context.user_data.clear()
        context.limiter.forget(update.effective_user.id)
    rows = sum(deleted.values())
    await query.answer("Everything about you is deleted.")
    await show(query, texts.FORGET_DONE.format(rows=f"{rows} record{'' if rows == 1 else 's'}"))


async def stats(update: Update, context: BotContext) -> None:
    """Show admins the key production figures."""
    if update.effective_user.id not in context.settings.admin_user_ids:
        await update.effective_message.reply_text(texts.ADMINS_ONLY)
        return
    await update.effective_message.reply_text(stats_text(await context.db.stats(), context.model.version))


async def _set_consent(update: Update, context: BotContext, given: bool) -> User | None:
    """Store consent given or withdrawn; declining stores nothing for someone who never agreed."""
    user_id = update.effective_user.id
    async with context.user_lock(user_id):  # a photo being read now is dropped, not answered
        if not given:
            context.forget_photos()
            user = await context.db.get_user(user_id)
            if user is None or not user.consent_given:
                return user
        return await context.db.set_consent(user_id, given)
