"""What the bot says about a selfie: the mood in plain words, how sure it is, and the songs. No Telegram here.

The model's probabilities are temperature-calibrated, so a confidence of 0.6 means right about 6 times in 10;
the bands of `model.confidence` turn that into words. Text is Telegram HTML: anything from the song catalogue is
escaped.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from model.confidence import CANT_TELL_BELOW, FAIRLY_SURE_FROM, QUITE_SURE_FROM, UNSURE_BELOW
from model.preprocess import LABELS

EMOJI = {"angry": "😠", "disgust": "🤢", "fear": "😨", "happy": "😊", "sad": "😢", "surprise": "😮", "neutral": "😐"}
ADJECTIVE = {"angry": "angry", "disgust": "disgusted", "fear": "scared", "happy": "happy", "sad": "sad",
             "surprise": "surprised", "neutral": "calm"}
MODE_HEADINGS = {"match": "Songs that match your mood:", "lift": "Songs to lift your mood:"}
MODE_NAMES = {"match": "🎯 Match my mood", "lift": "🌤 Lift my mood"}


@dataclass(frozen=True)
class MoodReading:
    """The top emotion and the runner-up, with how sure the model is of each."""

    emotion: str
    confidence: float
    runner_up: str
    runner_up_confidence: float

    @property
    def verdict(self) -> str:
        """"sure", "unsure" (name the runner-up too) or "cant_tell" (ask the user)."""
        if self.confidence < CANT_TELL_BELOW:
            return "cant_tell"
        return "unsure" if self.confidence < UNSURE_BELOW else "sure"


def read_mood(probabilities: Mapping[str, float]) -> MoodReading:
    """The two most probable emotions of a face."""
    (first, p_first), (second, p_second) = sorted(probabilities.items(), key=lambda item: -item[1])[:2]
    return MoodReading(first, p_first, second, p_second)


def one_hot(emotion: str) -> dict[str, float]:
    """Probabilities that are certain of `emotion`: what the user told us when correcting the model."""
    return {label: float(label == emotion) for label in LABELS}


def mood_name(emotion: str) -> str:
    """The emotion as the user reads it, e.g. "<b>scared</b> 😨"."""
    return f"<b>{ADJECTIVE[emotion]}</b> {EMOJI[emotion]}"


def confidence_words(confidence: float) -> str:
    """How sure the bot is, in words a person would use."""
    if confidence >= QUITE_SURE_FROM:
        return "I'm quite sure"
    if confidence >= FAIRLY_SURE_FROM:
        return "I'm fairly sure"
    return "I think so"


def describe_mood(reading: MoodReading, faces_seen: int = 1) -> str:
    """One or two sentences about the mood in the photo, honest about doubt."""
    crowd = f"I see {faces_seen} faces, so I read the biggest one.\n" if faces_seen > 1 else ""
    percent, runner_up_percent = round(100 * reading.confidence), round(100 * reading.runner_up_confidence)
    if reading.verdict == "cant_tell":
        return (f"{crowd}Honestly, I can't tell your mood from this photo: my best guess, "
                f"{ADJECTIVE[reading.emotion]}, is only {percent}% likely. How do you feel?")
    if reading.verdict == "unsure":
        return (f"{crowd}You might be {mood_name(reading.emotion)} ({percent}%), but I'm not sure: "
                f"you could also be {mood_name(reading.runner_up)} ({runner_up_percent}%).")
    return f"{crowd}You look {mood_name(reading.emotion)}: {confidence_words(reading.confidence)} ({percent}%)."


def song_lines(suggestions: Sequence) -> str:
    """The songs as a numbered list, each with its links (db Suggestion objects, in order)."""
    lines = []
    for number, suggestion in enumerate(suggestions, start=1):
        song = suggestion.song
        year = f" ({song.year})" if song.year else ""
        links = " · ".join(f'<a href="{escape(url)}">{escape(site)}</a>' for site, url in song.links.items())
        lines.append(f"{number}. <b>{escape(song.title)}</b> by {escape(song.artist)}{year}\n    {links}")
    return "\n".join(lines)


def result_text(reading: MoodReading, faces_seen: int, suggestions: Sequence, mode: str) -> str:
    """The whole answer to a selfie: mood, then songs to rate (or a question when the bot can't tell)."""
    mood = describe_mood(reading, faces_seen)
    if not suggestions:
        return mood
    return f"{mood}\n\n{MODE_HEADINGS[mode]}\n{song_lines(suggestions)}\n\nRate them with 👍 or 👎: it helps me learn."


def corrected_text(emotion: str, suggestions: Sequence, mode: str) -> str:
    """The answer once the user has told the bot their mood."""
    return (f"Thanks for telling me! You feel {mood_name(emotion)}; I've noted it.\n\n"
            f"{MODE_HEADINGS[mode]}\n{song_lines(suggestions)}\n\nRate them with 👍 or 👎: it helps me learn.")


def stats_text(stats: Mapping, model_version: str) -> str:
    """The admin's /stats: the model in use and the database's production figures, one per line."""
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
