"""What /moods shows: a picture of the user's moods over the last weeks, and a caption in their language.

The picture is drawn in memory with OpenCV and holds no words, only colours, dots and day numbers, so it reads the
same in every language; the caption names the colours. One column per day (UTC), one row per emotion, from the
brightest mood at the top to the darkest at the bottom: a dot for each mood read in a photo, a ring (joined to what
was read) for each mood the user corrected or picked. It is drawn from the database each time and kept nowhere.
"""

from datetime import datetime, timedelta

import cv2
import numpy as np

from bot.i18n import N_, Translator
from bot.replies import EMOTION_NAMES, song_title
from db import MoodJournal

JOURNAL_DAYS = 28  # four weeks, today included
CHART_SIZE = (1000, 500)  # width, height in pixels
ROWS = ("happy", "surprise", "neutral", "sad", "fear", "disgust", "angry")
# Each emotion's colour in the picture (BGR) and the coloured square that names it in the caption.
COLOURS = {"happy": (0, 200, 255), "surprise": (0, 140, 255), "neutral": (175, 175, 175), "sad": (215, 120, 30),
           "fear": (170, 60, 150), "disgust": (60, 160, 60), "angry": (40, 40, 215)}
SQUARES = {"happy": "🟨", "surprise": "🟧", "neutral": "⬜", "sad": "🟦", "fear": "🟪", "disgust": "🟩", "angry": "🟥"}
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 20, 50  # margins
INK, GRID, WEEK_SHADE = (60, 60, 60), (225, 225, 225), (245, 245, 245)


def first_day(today: datetime) -> datetime:
    """The first day the journal shows, when `today` (midnight UTC) is its last."""
    return today - timedelta(days=JOURNAL_DAYS - 1)


def draw_mood_chart(journal: MoodJournal, today: datetime) -> bytes:
    """The journal from its first day to `today` (midnight UTC), as a PNG."""
    width, height = CHART_SIZE
    days = (today - journal.since).days + 1
    day_width, row_height = (width - LEFT - RIGHT) / days, (height - TOP - BOTTOM) / len(ROWS)
    image = np.full((height, width, 3), 255, np.uint8)

    def x_of(moment: datetime) -> int:
        return round(LEFT + (moment - journal.since).total_seconds() / 86400 * day_width)

    def y_of(emotion: str) -> int:
        return round(TOP + (ROWS.index(emotion) + 0.5) * row_height)

    for week in range(1, days // 7 + 1, 2):  # every other week shaded, so weeks stand apart
        cv2.rectangle(image, (round(LEFT + week * 7 * day_width), TOP),
                      (round(LEFT + min(days, (week + 1) * 7) * day_width), height - BOTTOM), WEEK_SHADE, cv2.FILLED)
    for emotion in ROWS:
        cv2.line(image, (LEFT, y_of(emotion)), (width - RIGHT, y_of(emotion)), GRID, 1, cv2.LINE_AA)
        cv2.circle(image, (LEFT // 2, y_of(emotion)), 13, COLOURS[emotion], cv2.FILLED, cv2.LINE_AA)
    for day in range(0, days, 7):
        label_day = journal.since + timedelta(days=day)
        cv2.putText(image, str(label_day.day), (round(LEFT + day * day_width) + 2, height - BOTTOM + 30),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, INK, 1, cv2.LINE_AA)
        cv2.line(image, (round(LEFT + day * day_width), TOP), (round(LEFT + day * day_width), height - BOTTOM + 8),
                 INK, 1, cv2.LINE_AA)
    for reading in journal.readings:
        cv2.circle(image, (x_of(reading.at), y_of(reading.emotion)), 8, COLOURS[reading.emotion], cv2.FILLED,
                   cv2.LINE_AA)
    for correction in journal.corrections:
        x, y = x_of(correction.at), y_of(correction.emotion)
        cv2.line(image, (x, y_of(correction.corrected_from)), (x, y), INK, 2, cv2.LINE_AA)
        cv2.circle(image, (x, y), 12, (255, 255, 255), cv2.FILLED, cv2.LINE_AA)
        cv2.circle(image, (x, y), 12, INK, 2, cv2.LINE_AA)
        cv2.circle(image, (x, y), 8, COLOURS[correction.emotion], 4, cv2.LINE_AA)
    cv2.line(image, (LEFT, height - BOTTOM), (width - RIGHT, height - BOTTOM), INK, 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("OpenCV could not encode the mood chart as PNG")
    return png.tobytes()


def journal_caption(tr: Translator, journal: MoodJournal, today: datetime) -> str:
    """The words under the picture: the dates, what dots and rings mean, the colours, and the best-liked songs."""
    heading = tr(N_("<b>Your moods, {start} – {end}</b>"), start=tr.date(journal.since, with_year=False),
                 end=tr.date(today, with_year=False))
    key = tr(N_("● what I read in your photos  ○ what you told me"))
    colours = " · ".join(f"{SQUARES[emotion]} {tr(EMOTION_NAMES[emotion])}" for emotion in ROWS)
    if journal.liked_songs:
        songs = tr(N_("🎵 The songs you liked most: {songs}"),
                   songs="; ".join(song_title(tr, song) for song in journal.liked_songs))
    else:
        songs = tr(N_("🎵 No liked songs yet: rate songs with 👍 and your favourites will show up here."))
    return "\n".join([heading, key, colours, songs])
