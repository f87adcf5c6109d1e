"""Everything the bot says that does not depend on a photo: greetings, help, privacy, and friendly refusals.

Telegram HTML. Each bad-input answer is specific, so a user knows what to do differently (an image the model cannot
read is explained by the model's own ImageError message, which names what is wrong with it).
"""

MAX_PHOTO_MB = 10

COMMANDS = {
    "start": "Say hello and see what I do",
    "mode": "Match your mood or lift it",
    "consent": "See or change what you agreed to",
    "privacy": "What I store and how to erase it",
    "forget": "Delete everything I store about you",
    "help": "How to use MoodTunes",
}
ADMIN_COMMANDS = {"stats": "Production figures (admins only)"}

GREETING = (
    "Hi {name}! 🎧 I'm <b>MoodTunes</b>. Send me a selfie and I'll guess your mood and suggest songs for it.\n\n"
    "Your photo is looked at in memory and thrown away at once: never saved, never shown to anyone. "
    "I keep your consent, your song ratings and your mood corrections so I can get better; /privacy has the "
    "details, and /forget erases it all.\n\n"
    "Is that okay with you?"
)
WELCOME_BACK = "Hi {name}! 🎧 Send me a selfie whenever you like and I'll find songs for your mood. /help lists what I can do."
CONSENT_NEEDED = (
    "Before I look at any photo I need your okay. 🙏 I didn't open this one.\n\n"
    "Your photo is analysed in memory and never saved; I keep only your ratings and corrections (see /privacy)."
)
CONSENT_GIVEN = "Thank you! 🤳 Send me a selfie (as a photo or an image file) and I'll find songs for your mood."
CONSENT_DECLINED = "No problem: I won't look at any photos. Use /consent whenever you change your mind."
CONSENT_WITHDRAWN = ("Done: consent withdrawn, and any face crops you donated are deleted. I won't look at your photos "
                     "any more. Your ratings stay until you use /forget.")
HELP = (
    "<b>How MoodTunes works</b>\n"
    "🤳 Send a selfie, as a photo or as an image file. One face, well lit, works best.\n"
    "🎵 I tell you the mood I see and suggest songs. Rate them with 👍/👎.\n"
    "🙅 Wrong guess? Tap <i>That's not my mood</i> and pick the right one.\n\n"
    "/mode: songs that match your mood, or lift it\n"
    "/consent: what you agreed to, and crop donation\n"
    "/privacy: what I store\n"
    "/forget: delete everything about you"
)
PRIVACY = (
    "<b>Privacy</b>\n"
    "• <b>Your photos</b> are analysed in memory and dropped straight away. They are never written to disk, "
    "never logged, never shown to anyone.\n"
    "• <b>What I store</b>, linked to your Telegram user id: when you gave consent, your song mode, the songs I "
    "suggested with the mood I read, your 👍/👎 ratings, and the moods you corrected.\n"
    "• <b>Face crops</b>: only if you opt in under /consent, a tiny 48×48 grey crop of your face is kept when you "
    "correct my guess, to retrain the model. Off by default; turning it off deletes them at once.\n"
    "• <b>How long</b>: until you delete it. /forget erases every row about you, straight away.\n"
    "• Nothing is sold or shared."
)
FORGET_QUESTION = ("This deletes everything I store about you: consent, mode, suggestions, ratings, mood corrections "
                   "and donated face crops. It can't be undone. Go ahead?")
FORGET_DONE = "Done. 🧹 I deleted {rows} about you; nothing is left. Send /start if you ever want to come back."
FORGET_CANCELLED = "Okay, nothing was deleted."

NO_FACE = ("I couldn't find a face in that photo. 🤔 Try a selfie facing the camera, in good light, with your whole "
           "face in the picture.")
WRONG_FILE_TYPE = ("I can only read images, and that file is {kind}. Send your selfie as a photo, or as a JPEG, PNG "
                   "or WebP image file.")
FILE_TOO_BIG = ("That file is {size:.1f} MB: too big for me. Please send a photo of " + str(MAX_PHOTO_MB)
                + " MB or less (sending it as a photo rather than a file shrinks it).")
FILE_TOO_BIG_TO_DOWNLOAD = ("That file is too big for me: Telegram lets me fetch files of up to 20 MB, and I read "
                            "photos of up to " + str(MAX_PHOTO_MB) + " MB. Please send it as a photo rather than a "
                            "file: that shrinks it.")
DOWNLOAD_FAILED = "I couldn't fetch that photo from Telegram. 📡 Please send it again in a moment."
SLOW_DOWN = ("Whoa, that's a lot of photos! 😅 I can read {limit} a minute per person, so please wait a moment "
             "before sending the next one.")
OTHER_MESSAGE = "Send me a selfie and I'll find songs for your mood. 🎧 /help shows what else I can do."
OLD_PHOTO = "I no longer remember that photo. Please send it again."
SUGGESTION_GONE = "That suggestion no longer exists. Send a new selfie for fresh songs."
ADMINS_ONLY = "Sorry, /stats is only for the bot's admins."
SORRY = "Sorry, something went wrong on my side. 🙇 Please try again in a moment."


def mode_text(mode: str) -> str:
    """What /mode shows."""
    current = "match your mood" if mode == "match" else "lift your mood"
    return (f"Right now I pick songs that <b>{current}</b>.\n\n"
            "🎯 <i>Match</i>: songs that feel like you do.\n🌤 <i>Lift</i>: songs to cheer you up or calm you down.")


def consent_text(user) -> str:
    """What /consent shows: whether and when the user agreed, and whether they donate face crops."""
    if user is None or not user.consent_given:
        return "You haven't given consent, so I don't look at your photos. Tap below to agree."
    donating = ("on: when you correct my guess, a 48×48 grey crop of your face is kept to retrain me"
                if user.donate_crops else "off: no picture of you is ever kept")
    agreed_on = f" on {user.consent_at:%d %B %Y}" if user.consent_at else ""
    return (f"✅ You agreed{agreed_on}, so I read the mood in your selfies.\n"
            f"🧩 Face-crop donation is <b>{donating}</b>.")
