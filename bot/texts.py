"""Everything the bot says that does not depend on a photo: greetings, help, privacy, and friendly refusals.

Telegram HTML, in English, marked with `N_` and translated when shown: `context.tr(texts.NO_FACE)`. Placeholders
in braces are filled in after translation, so a translation keeps every placeholder of its English text.
Each bad-input answer is specific, so a user knows what to do differently.
"""

from datetime import timedelta

from bot.i18n import N_, Translator
from db import ANSWERS_KEPT, RATE_LIMIT_KEPT

COMMANDS = {
    "start": N_("Say hello and see what I do"),
    "moods": N_("Your moods of the last weeks, as a picture"),
    "mode": N_("Match your mood or lift it"),
    "language": N_("Choose the language I speak"),
    "consent": N_("See or change what you agreed to"),
    "privacy": N_("What I store and how to erase it"),
    "forget": N_("Delete everything I store about you"),
    "help": N_("How to use MoodTunes"),
}
ADMIN_COMMANDS = {"stats": N_("Production figures (admins only)")}

GREETING = N_(
    "Hi {name}! 🎧 I'm <b>MoodTunes</b>. Send me a selfie and I'll read the mood in your face and suggest songs "
    "for it.\n\n"
    "Your photo is looked at in memory and thrown away at once: never saved, never shown to anyone. "
    "I keep your consent, a short log of the moods I read, your song ratings and your corrections so I can get "
    "better; /privacy has the details, and /forget erases it all.\n\n"
    "MoodTunes is for people aged {age} or older. Is that okay with you, and are you {age} or older?"
)
WELCOME_BACK = N_("Hi {name}! 🎧 Send me a selfie whenever you like and I'll find songs for your mood. "
                  "/help lists what I can do.")
CONSENT_NEEDED = N_(
    "Before I look at any photo I need your okay, and your word that you are {age} or older. 🙏 "
    "I didn't open this one.\n\n"
    "Your photo is analysed in memory and never saved; I keep only a log of the moods I read, your ratings and "
    "your corrections (see /privacy)."
)
CONSENT_FIRST = N_("Please give your consent first: /consent")
CONSENT_GIVEN = N_("Thank you! 🤳 Send me a selfie (as a photo or an image file) and I'll find songs for your mood.")
CONSENT_DECLINED = N_("No problem: I won't look at any photos, and I've stored nothing about you. "
                      "Use /consent whenever you change your mind.")
CONSENT_WITHDRAWN = N_("Done: consent withdrawn, and any face crops you donated are deleted. I won't look at your "
                       "photos any more. Your mood log and ratings stay for as long as /privacy says, unless you use "
                       "/forget.")
THANK_YOU = N_("Thank you!")
OKAY = N_("Okay.")
CONSENT_GIVEN_SHORT = N_("Consent given.")
CONSENT_WITHDRAWN_SHORT = N_("Consent withdrawn.")
DONATION_ON = N_("Thank you for helping me learn!")
DONATION_OFF = N_("Donation off; your crops are deleted.")

HELP = N_(
    "<b>How MoodTunes works</b>\n"
    "🤳 Send a selfie, as a photo or as an image file. One face, well lit, works best.\n"
    "🎵 I tell you the mood I read in your face and suggest songs. Rate them with 👍/👎.\n"
    "🙅 Wrong guess? Tap <i>That's not my mood</i> and pick the right one.\n\n"
    "/moods: your moods of the last weeks, as a picture\n"
    "/mode: songs that match your mood, or lift it\n"
    "/language: the language I speak\n"
    "/consent: what you agreed to, and crop donation\n"
    "/privacy: what I store\n"
    "/forget: delete everything about you"
)
PRIVACY = N_(
    "<b>Privacy</b>\n"
    "• <b>Your photos</b> are read in memory and dropped at once: never written to disk, never logged, never shown "
    "to anyone.\n"
    "• <b>What I keep</b>, under your Telegram user id:\n"
    "  – <b>your choices</b>: your consent (with your word that you are {age} or older) and when you gave or "
    "withdrew it, whether you donate face crops, your song mode and language;\n"
    "  – a <b>mood log</b>: for each photo, the mood I read, how sure I was, how the model alone read each emotion, "
    "the model version and the time (not the photo);\n"
    "  – the <b>songs</b> I suggested, and your 👍/👎 ratings of them;\n"
    "  – your <b>corrections</b>: the moods you corrected or picked, with what the model had read. Only if you opt "
    "in under /consent (off by default), a tiny 48×48 grey crop of your face goes with them, to retrain the model; "
    "turning it off deletes the crops at once;\n"
    "  – <b>what I learn about your face</b>: from the moods you correct (and, a little, the readings you let stand), "
    "how much to lean towards each emotion when I read your face, for the model version that read them; a reading "
    "I'm sure of is never changed. It comes from the mood log and goes with it; “🧠 Unlearn my face” under /consent "
    "resets it;\n"
    "  – what I read in your last few photos (with their 48×48 face crops if you donate them, used only if you "
    "correct me), so that you can still correct my guess: kept for {answers_period} at most;\n"
    "  – when you sent photos and when I last asked you to wait, for the limit on photos per minute: kept for "
    "{events_period}.\n"
    "• <b>How long</b>: the mood log, the songs and their ratings are deleted once they are {period} old. Your "
    "choices and corrections stay until you delete them: /forget erases all of it at once.\n"
    "• Each song's anonymous count of 👍/👎 stays: it says nothing about who rated.\n"
    "• /moods draws your picture from this data each time. Nothing is sold or shared."
)
PRIVACY_TASTE = N_(
    "• <b>Your taste</b>: from your 👍/👎 I work out which genres, languages, eras and energy of songs you like more "
    "or less than most people do (starting from your language), to choose among the songs that fit your mood. It is "
    "not stored on its own: it is worked out from your ratings for each answer, so it goes when they go, and /forget "
    "erases it with them."
)
FORGET_QUESTION = N_("This deletes everything I store about you: consent, mode, language, mood log, suggestions, "
                     "ratings, mood corrections and donated face crops. It can't be undone. Go ahead?")
FORGET_CONFIRMED = N_("Everything about you is deleted.")
FORGET_CANCELLED = N_("Okay, nothing was deleted.")

LANGUAGE_QUESTION = N_("🌍 Which language should I speak?")
LANGUAGE_CHOSEN = N_("🌍 Okay, I'll speak English from now on.")  # each translation names its own language

NO_MOODS_YET = N_("Nothing to show yet. 📈 Send me a selfie now and then, and /moods will draw how your moods go "
                  "over the weeks.")
SKIPPED = N_("No problem, let's skip this one. 🤷 Send another selfie whenever you like.")

MODE_ALREADY = N_("That's already your mode.")
MODE_CHANGED = N_("Mode changed.")
MODE_MATCH_NOW = N_("Right now I pick songs that <b>match your mood</b>.")
MODE_LIFT_NOW = N_("Right now I pick songs that <b>lift your mood</b>.")
MODES_EXPLAINED = N_("🎯 <i>Match</i>: songs that feel like you do.\n🌤 <i>Lift</i>: songs to cheer you up or calm "
                     "you down.")

NO_FACE = N_("I couldn't find a face in that photo. 🤔 Try a selfie facing the camera, in good light, with your whole "
             "face in the picture.")
WRONG_FILE_TYPE = N_("I can only read images, and that file is of type {kind}. Send your selfie as a photo, or as "
                     "an image file.")
WRONG_FILE_UNKNOWN_TYPE = N_("I can only read images, and I don't know the type of that file. Send your selfie as a "
                             "photo, or as an image file.")
FILE_TOO_BIG = N_("That file is {size:.1f} MB: too big for me. Please send a photo of {limit} MB or less (sending "
                  "it as a photo rather than a file shrinks it).")
FILE_TOO_BIG_TO_DOWNLOAD = N_("That file is too big for me: Telegram lets me fetch files of up to 20 MB, and I read "
                              "photos of up to {limit} MB. Please send it as a photo rather than a file: that shrinks "
                              "it.")
DOWNLOAD_FAILED = N_("I couldn't fetch that photo from Telegram. 📡 Please send it again in a moment.")
IMAGE_PROBLEMS = {  # what the model's ImageError.kind means, for the user
    "not_image": N_("I couldn't read that image: it isn't a picture format I know, or the file is damaged. "
                    "Please send your selfie as a photo."),
    "truncated": N_("That image is cut short; the upload may not have finished. Please send it again."),
    "too_large": N_("That image has too many pixels for me. Please send it as a photo: Telegram makes it smaller."),
    "too_small": N_("That picture is too small for me to see a face in. Please send a bigger selfie."),
}
SLOW_DOWN = N_("Whoa, that's a lot of photos! 😅 I can read {limit} a minute per person, so please wait a moment "
               "before sending the next one.")
OTHER_MESSAGE = N_("Send me a selfie and I'll find songs for your mood. 🎧 /help shows what else I can do.")
OLD_PHOTO = N_("I no longer remember that photo. Please send it again.")
SUGGESTION_GONE = N_("That suggestion no longer exists. Send a new selfie for fresh songs.")
OUT_OF_DATE_BUTTON = N_("This button is out of date. Send /help to see what I can do.")
ADMINS_ONLY = N_("Sorry, /stats is only for the bot's admins.")
SORRY = N_("Sorry, something went wrong on my side. 🙇 Please try again in a moment.")

NOT_AGREED = N_("You haven't given consent, so I don't look at your photos. Tap below to agree.")
AGREED = N_("✅ You agreed on {day}, so I read the mood in your selfies.")
DONATING = N_("🧩 Face-crop donation is <b>on</b>: when you correct my guess, a 48×48 grey crop of your face is kept "
              "to retrain me.")
NOT_DONATING = N_("🧩 Face-crop donation is <b>off</b>: no picture of you is ever kept.")
FACE_UNLEARNT = N_("Done: I read your face like anyone's again.")


def mode_text(tr: Translator, mode: str) -> str:
    """What /mode shows."""
    return f"{tr(MODE_MATCH_NOW if mode == 'match' else MODE_LIFT_NOW)}\n\n{tr(MODES_EXPLAINED)}"


def consent_text(tr: Translator, user, face_corrections: int = 0) -> str:
    """What /consent shows: whether and when the user agreed, whether they donate face crops, and how many of their
    corrections teach the bot their face."""
    if user is None or not user.consent_given:
        return tr(NOT_AGREED)
    text = f"{tr(AGREED, day=tr.date(user.consent_at))}\n{tr(DONATING if user.donate_crops else NOT_DONATING)}"
    if face_corrections:
        text += "\n" + tr.ngettext("🧠 I read your face with what {count} correction of yours taught me.",
                                   "🧠 I read your face with what {count} corrections of yours taught me.",
                                   face_corrections)
    return text


def privacy_text(tr: Translator, retention_days: int, min_age: int) -> str:
    """What /privacy shows: every kind of data kept, and for how long."""
    kept = tr(PRIVACY, age=min_age, period=_days(tr, retention_days), answers_period=_days(tr, ANSWERS_KEPT.days),
              events_period=tr.ngettext("{count} hour", "{count} hours", RATE_LIMIT_KEPT // timedelta(hours=1)))
    return f"{kept}\n{tr(PRIVACY_TASTE)}"


def _days(tr: Translator, days: int) -> str:
    return tr.ngettext("{count} day", "{count} days", days)


def forget_done(tr: Translator, rows: int) -> str:
    """What /forget says once it has deleted `rows` rows."""
    return tr.ngettext("Done. 🧹 I deleted {count} record about you; nothing is left. "
                       "Send /start if you ever want to come back.",
                       "Done. 🧹 I deleted {count} records about you; nothing is left. "
                       "Send /start if you ever want to come back.", rows)
