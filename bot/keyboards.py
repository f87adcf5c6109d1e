"""The inline buttons under the bot's messages, and what their callback data means.

Callback data is short text, `action:argument`: `consent:yes|no` (greeting), `consent:give|withdraw`
(/consent), `donate:on|off`, `face:forget` (unlearn the user's face), `mode:lift`, `forget:yes`, `language:pt_BR`,
`rate:<suggestion id>:up`, `fix` (open the mood picker), `fix:cancel` (back to the songs), `fix:skip` (leave the
"how do you feel?" picker without an answer), `mood:<emotion>`. Button texts are in the user's language (`tr`).
"""

from collections.abc import Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import LANGUAGES, N_, Translator
from bot.replies import EMOJI, EMOTION_NAMES, MODE_NAMES
from model.preprocess import LABELS

CHOSEN = "✅ "
I_AGREE = N_("✅ I agree, and I'm {age} or older")


def consent_buttons(tr: Translator, age: int) -> InlineKeyboardMarkup:
    """Agree (confirming the minimum age) / not now, under the greeting and under reminders."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(tr(I_AGREE, age=age), callback_data="consent:yes")],
                                 [InlineKeyboardButton(tr(N_("Not now")), callback_data="consent:no")]])


def consent_settings(tr: Translator, user, age: int, face_learnt: bool = False) -> InlineKeyboardMarkup:
    """What /consent offers: give or withdraw consent, switch crop donation on or off, and unlearn the user's face
    when their corrections taught it something."""
    if user is None or not user.consent_given:
        return InlineKeyboardMarkup([[InlineKeyboardButton(tr(I_AGREE, age=age), callback_data="consent:give")]])
    donation = (InlineKeyboardButton(tr(N_("🧩 Stop donating face crops")), callback_data="donate:off")
                if user.donate_crops
                else InlineKeyboardButton(tr(N_("🧩 Donate face crops of corrections")), callback_data="donate:on"))
    unlearn = [[InlineKeyboardButton(tr(N_("🧠 Unlearn my face")), callback_data="face:forget")]] if face_learnt else []
    return InlineKeyboardMarkup([[donation], *unlearn, [InlineKeyboardButton(tr(N_("Withdraw consent")),
                                                                             callback_data="consent:withdraw")]])


def mode_buttons(tr: Translator, current: str) -> InlineKeyboardMarkup:
    """Match / lift, the current one ticked."""
    return InlineKeyboardMarkup([[InlineKeyboardButton((CHOSEN if mode == current else "") + tr(name),
                                                       callback_data=f"mode:{mode}")
                                  for mode, name in MODE_NAMES.items()]])


def language_buttons(current: str) -> InlineKeyboardMarkup:
    """One button per shipped language, named in itself, the current one ticked."""
    buttons = [InlineKeyboardButton((CHOSEN if language == current else "") + name,
                                    callback_data=f"language:{language}") for language, name in LANGUAGES.items()]
    return InlineKeyboardMarkup([buttons[start:start + 2] for start in range(0, len(buttons), 2)])


def forget_buttons(tr: Translator) -> InlineKeyboardMarkup:
    """The confirmation /forget asks for."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(tr(N_("🗑 Yes, delete everything")), callback_data="forget:yes"),
                                  InlineKeyboardButton(tr(N_("Cancel")), callback_data="forget:no")]])


def song_buttons(tr: Translator, suggestion_ids: Sequence[int], with_fix: bool = True) -> InlineKeyboardMarkup:
    """A 👍/👎 row per suggested song, numbered like the list, and "that's not my mood" below them."""
    rows = [_rating_row(number, suggestion_id, None) for number, suggestion_id in enumerate(suggestion_ids, 1)]
    if with_fix:
        rows.append([InlineKeyboardButton(tr(N_("🙅 That's not my mood")), callback_data="fix")])
    return InlineKeyboardMarkup(rows)


def with_rating(markup: InlineKeyboardMarkup, suggestion_id: int, thumbs_up: bool) -> InlineKeyboardMarkup:
    """The same keyboard with the rating of one song shown (ticked), other rows untouched."""
    rows = []
    for number, row in enumerate(markup.inline_keyboard, start=1):
        rating = parse_rating(row[0].callback_data or "")
        if rating and rating[0] == suggestion_id:
            row = _rating_row(number, suggestion_id, thumbs_up)
        rows.append(list(row))
    return InlineKeyboardMarkup(rows)


def parse_rating(data: str) -> tuple[int, bool] | None:
    """(suggestion id, thumbs up?) from `rate:<id>:up|down`, or None for any other button."""
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != "rate" or not parts[1].isdigit() or parts[2] not in ("up", "down"):
        return None
    return int(parts[1]), parts[2] == "up"


def mood_picker(tr: Translator, emotions: Iterable[str] = LABELS, correcting: bool = True) -> InlineKeyboardMarkup:
    """One button per emotion, to tell the bot the right one, and a way out: back to the songs when correcting a
    guess, "skip" when the bot could not tell and asked."""
    buttons = [InlineKeyboardButton(f"{EMOJI[emotion]} {tr(EMOTION_NAMES[emotion])}", callback_data=f"mood:{emotion}")
               for emotion in emotions]
    rows = [buttons[start:start + 3] for start in range(0, len(buttons), 3)]
    way_out = (InlineKeyboardButton(tr(N_("↩ Back to the songs")), callback_data="fix:cancel") if correcting
               else InlineKeyboardButton(tr(N_("🤷 Skip this one")), callback_data="fix:skip"))
    return InlineKeyboardMarkup(rows + [[way_out]])


def _rating_row(number: int, suggestion_id: int, thumbs_up: bool | None) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(f"{CHOSEN if thumbs_up is True else ''}{number} 👍",
                                 callback_data=f"rate:{suggestion_id}:up"),
            InlineKeyboardButton(f"{CHOSEN if thumbs_up is False else ''}{number} 👎",
                                 callback_data=f"rate:{suggestion_id}:down")]
