"""What the bot says about a selfie: the mood in plain words, how sure it is, and the songs. No Telegram here.

The model's probabilities are temperature-calibrated, so a confidence of 0.6 means right about 6 times in 10;
the bands of `model.confidence` turn that into words. Text is Telegram HTML: anything from the song catalogue is
escaped.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from bot.i18n import N_, Translator
from model.confidence import CANT_TELL_BELOW, FAIRLY_SURE_FROM, QUITE_SURE_FROM, UNSURE_BELOW
from model.preprocess import LABELS

EMOJI = {"angry": "😠", "disgust": "🤢", "fear": "😨", "happy": "😊", "sad": "😢", "surprise": "😮", "neutral": "😐"}
# Nouns, not adjectives: the bot says what a face shows ("I read sadness in this face"), never what a person is.
EMOTION_NAMES = {"angry": N_("anger"), "disgust": N_("disgust"), "fear": N_("fear"), "happy": N_("happiness"),
                 "sad": N_("sadness"), "surprise": N_("surprise"), "neutral": N_("calm")}
MODE_HEADINGS = {"match": N_("Songs that match your mood:"), "lift": N_("Songs to lift your mood:")}
MODE_NAMES = {"match": N_("🎯 Match my mood"), "lift": N_("🌤 Lift my mood")}
RATE_THEM = N_("Rate them with 👍 or 👎: it helps me learn.")


@dataclass(frozen=True)
class MoodReading:
    """The top emotion and the runner-up, with how sure the model is of each."""

    emotion: str
    confidence: float
    runner_up: str
    runner_up_confidence: float
    model_alone: str | None = None  # what the model alone read, when the user's corrections changed the reading

    @property
    def verdict(self) -> str:
        """"sure", "unsure" (name the runner-up too) or "cant_tell" (ask the user)."""
        if self.confidence < CANT_TELL_BELOW:
            return "cant_tell"
        return "unsure" if self.confidence < UNSURE_BELOW else "sure"


def read_mood(probabilities: Mapping[str, float], model_output: Mapping[str, float] | None = None) -> MoodReading:
    """The two most probable emotions of a face; with the model's own `model_output`, what it read alone if that
    differs (the probabilities are then what was learnt of the user made of it)."""
    (first, p_first), (second, p_second) = sorted(probabilities.items(), key=lambda item: -item[1])[:2]
    model_alone = max(model_output, key=model_output.get) if model_output is not None else first
    return MoodReading(first, p_first, second, p_second, model_alone if model_alone != first else None)


def one_hot(emotion: str) -> dict[str, float]:
    """Probabilities that are certain of `emotion`: what the user told us when correcting the model."""
    return {label: float(label == emotion) for label in LABELS}


def mood_name(tr: Translator, emotion: str) -> str:
    """The emotion as the user reads it, e.g. "<b>fear</b> 😨"."""
    return f"<b>{tr(EMOTION_NAMES[emotion])}</b> {EMOJI[emotion]}"


def confidence_words(tr: Translator, confidence: float) -> str:
    """How sure the bot is, in words a person would use."""
    if confidence >= QUITE_SURE_FROM:
        return tr(N_("I'm quite sure"))
    if confidence >= FAIRLY_SURE_FROM:
        return tr(N_("I'm fairly sure"))
    return tr(N_("I think so"))


def describe_mood(tr: Translator, reading: MoodReading, faces_seen: int = 1) -> str:
    """One or two sentences about the mood the face shows, honest about doubt, and whether the user's corrections
    changed it."""
    crowd = tr.ngettext("I see {count} face, so I read the biggest one.",
                        "I see {count} faces, so I read the biggest one.", faces_seen) + "\n" if faces_seen > 1 else ""
    percent, runner_up_percent = tr.percent(reading.confidence), tr.percent(reading.runner_up_confidence)
    if reading.verdict == "cant_tell":
        mood = tr(N_("Honestly, I can't read the mood in this face: my best guess, {mood}, is only "
                     "{percent} likely. How do you feel?"),
                  mood=tr(EMOTION_NAMES[reading.emotion]), percent=percent)
    elif reading.verdict == "unsure":
        mood = tr(N_("This face might show {mood} ({percent}), but I'm not sure: it could also be "
                     "{runner_up} ({runner_up_percent})."),
                  mood=mood_name(tr, reading.emotion), percent=percent,
                  runner_up=mood_name(tr, reading.runner_up), runner_up_percent=runner_up_percent)
    else:
        mood = tr(N_("I read {mood} in this face: {sureness} ({percent})."),
                  mood=mood_name(tr, reading.emotion), sureness=confidence_words(tr, reading.confidence),
                  percent=percent)
    return crowd + mood + _learnt(tr, reading)


def _learnt(tr: Translator, reading: MoodReading) -> str:
    """A line saying that the user's corrections changed the reading, and what the model alone read."""
    if reading.model_alone is None:
        return ""
    return "\n" + tr(N_("🧠 Learnt from your corrections: without them I'd have read {mood}."),
                     mood=tr(EMOTION_NAMES[reading.model_alone]))


def song_lines(tr: Translator, suggestions: Sequence) -> str:
    """The songs as a numbered list, each with its links (db Suggestion objects, in order)."""
    lines = []
    for number, suggestion in enumerate(suggestions, start=1):
        song = suggestion.song
        year = f" ({song.year})" if song.year else ""
        links = " · ".join(f'<a href="{escape(url)}">{escape(site)}</a>' for site, url in song.links.items())
        lines.append(f"{number}. {song_title(tr, song)}{year}\n    {links}")
    return "\n".join(lines)


def song_title(tr: Translator, song) -> str:
    """"<b>Title</b> by Artist", catalogue text escaped."""
    return tr(N_("<b>{title}</b> by {artist}"), title=escape(song.title), artist=escape(song.artist))


def result_text(tr: Translator, reading: MoodReading, faces_seen: int, suggestions: Sequence, mode: str) -> str:
    """The whole answer to a selfie: mood, then songs to rate (or a question when the bot can't tell)."""
    mood = describe_mood(tr, reading, faces_seen)
    if not suggestions:
        return mood
    return f"{mood}\n\n{tr(MODE_HEADINGS[mode])}\n{song_lines(tr, suggestions)}\n\n{tr(RATE_THEM)}"


def corrected_text(tr: Translator, emotion: str, suggestions: Sequence, mode: str) -> str:
    """The answer once the user has told the bot their mood."""
    thanks = tr(N_("Thanks for telling me! I've noted {mood}."), mood=mood_name(tr, emotion))
    return f"{thanks}\n\n{tr(MODE_HEADINGS[mode])}\n{song_lines(tr, suggestions)}\n\n{tr(RATE_THEM)}"


def stats_text(stats: Mapping, model_version: str) -> str:
    """The admin's /stats: the model in use and the database's production figures, one per line (the database's
    own names, in English: it is an operator's view)."""
    return f"<b>MoodTunes stats</b>\nmodel: {escape(model_version)}\n" + "\n".join(_stat_lines(stats, indent=""))


def _stat_lines(stats: Mapping, indent: str) -> list[str]:
    lines = []
    for name, value in stats.items():
        if isinstance(value, Mapping):
            lines += [f"{indent}{escape(str(name))}:", *_stat_lines(value, indent + "    ")]
        else:
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            lines.append(f"{indent}{escape(str(name))}: {escape(shown)}")
    return lines
