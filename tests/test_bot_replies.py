"""What the bot says about a selfie, and the buttons under it, without Telegram."""

import pytest

from bot import keyboards
from bot.i18n import translator
from bot.replies import (CANT_TELL_BELOW, UNSURE_BELOW, confidence_words, describe_mood, one_hot, read_mood,
                         result_text, stats_text)
from db import Song, Suggestion
from model.preprocess import LABELS

EN = translator("en")


def probabilities(**given: float) -> dict[str, float]:
    rest = (1 - sum(given.values())) / (len(LABELS) - len(given))
    return {label: given.get(label, rest) for label in LABELS}


def suggestion(suggestion_id: int, title: str, artist: str = "Someone") -> Suggestion:
    song = Song(song_id=suggestion_id, title=title, artist=artist, year=2001,
                links={"YouTube": f"https://www.youtube.com/results?search_query={suggestion_id}&x=1"},
                moods=("happy",), valence=0.8, energy=0.7, source="test")
    return Suggestion(suggestion_id=suggestion_id, song=song, emotion="happy", mode="match")


def test_a_confident_reading_names_what_the_face_shows_and_how_sure_the_bot_is():
    text = describe_mood(EN, read_mood(probabilities(happy=0.9)))
    assert text == "I read <b>happiness</b> 😊 in this face: I'm quite sure (90%)."


def test_an_unsure_reading_names_the_runner_up_too():
    reading = read_mood(probabilities(sad=0.45, neutral=0.35))
    assert reading.verdict == "unsure"
    assert describe_mood(EN, reading) == ("This face might show <b>sadness</b> 😢 (45%), but I'm not sure: "
                                          "it could also be <b>calm</b> 😐 (35%).")


def test_below_the_threshold_the_bot_says_honestly_it_cannot_tell():
    reading = read_mood(probabilities(fear=0.22, surprise=0.2))
    assert reading.verdict == "cant_tell"
    assert "I can't read the mood in this face" in describe_mood(EN, reading) and "22%" in describe_mood(EN, reading)


@pytest.mark.parametrize("emotion", LABELS)
def test_the_words_describe_the_face_never_the_person(emotion):
    others = [label for label in LABELS if label != emotion]
    readings = [read_mood(probabilities(**{emotion: 0.9})),
                read_mood(probabilities(**{emotion: 0.45, others[0]: 0.35})),
                read_mood(probabilities(**{emotion: 0.22, others[0]: 0.2}))]
    for reading in readings:
        text = describe_mood(EN, reading).lower()
        assert "face" in text and not any(judgement in text for judgement in ("you look", "you are", "you might be",
                                                                              "you could", "disgusted"))


def test_the_thresholds_sit_between_chance_and_certainty():
    assert 1 / len(LABELS) < CANT_TELL_BELOW < UNSURE_BELOW < 1
    assert read_mood(probabilities(angry=UNSURE_BELOW)).verdict == "sure"
    assert read_mood(probabilities(angry=CANT_TELL_BELOW)).verdict == "unsure"


def test_the_bot_words_each_confidence_band_the_evaluation_reports_differently():
    from train.metrics import CONFIDENCE_BANDS  # the model card's table of accuracy per band

    def wording(confidence: float) -> tuple[str, str]:
        return read_mood(probabilities(angry=confidence)).verdict, confidence_words(EN, confidence)

    inside = [wording((low + high) / 2) for low, high in zip(CONFIDENCE_BANDS[:-1], CONFIDENCE_BANDS[1:])]
    assert len(set(inside)) == len(inside), "one wording per band"
    for edge in CONFIDENCE_BANDS[1:-1]:
        assert wording(edge) != wording(edge - 0.001), f"the bot's words change at {edge}"


@pytest.mark.parametrize("confidence, words", [(0.95, "I'm quite sure"), (0.75, "I'm fairly sure"),
                                               (0.6, "I think so")])
def test_confidence_is_put_in_plain_words(confidence, words):
    assert confidence_words(EN, confidence) == words


def test_a_photo_with_several_faces_says_which_one_was_read():
    assert describe_mood(EN, read_mood(probabilities(happy=0.9)), faces_seen=3).startswith(
        "I see 3 faces, so I read the biggest one.")


def test_the_answer_lists_the_songs_as_links_with_catalogue_text_escaped():
    songs = [suggestion(1, "Love <3 & Peace"), suggestion(2, "Plain", artist="A & B")]
    text = result_text(EN, read_mood(probabilities(happy=0.9)), 1, songs, "lift")
    assert "Songs to lift your mood:" in text
    assert "1. <b>Love &lt;3 &amp; Peace</b> by Someone (2001)" in text and "by A &amp; B" in text
    assert '<a href="https://www.youtube.com/results?search_query=1&amp;x=1">YouTube</a>' in text


def test_a_correction_is_certain_of_the_chosen_emotion():
    assert one_hot("sad") == {label: float(label == "sad") for label in LABELS}


def test_rating_a_song_ticks_its_button_and_leaves_the_other_songs_alone():
    markup = keyboards.song_buttons(EN, [11, 12, 13])
    up = keyboards.with_rating(markup, 12, thumbs_up=True)
    assert [button.text for button in up.inline_keyboard[1]] == ["✅ 2 👍", "2 👎"]
    assert up.inline_keyboard[0] == markup.inline_keyboard[0] and up.inline_keyboard[3] == markup.inline_keyboard[3]
    down = keyboards.with_rating(up, 12, thumbs_up=False)
    assert [button.text for button in down.inline_keyboard[1]] == ["2 👍", "✅ 2 👎"]


def test_rating_buttons_carry_the_suggestion_and_the_thumb():
    row = keyboards.song_buttons(EN, [987654321]).inline_keyboard[0]
    assert [keyboards.parse_rating(button.callback_data) for button in row] == [(987654321, True), (987654321, False)]
    assert keyboards.parse_rating("mood:sad") is None and keyboards.parse_rating("rate:x:up") is None


def test_every_button_fits_in_telegram_64_byte_callback_data():
    markups = [keyboards.consent_buttons(EN, 16), keyboards.forget_buttons(EN), keyboards.mode_buttons(EN, "lift"),
               keyboards.song_buttons(EN, [2**62] * 5), keyboards.mood_picker(EN), keyboards.language_buttons("pt_BR"),
               keyboards.mood_picker(EN, correcting=False)]
    for markup in markups:
        for row in markup.inline_keyboard:
            assert all(len(button.callback_data.encode()) <= 64 for button in row)


def test_the_mood_picker_offers_every_emotion_but_the_wrong_guess():
    picker = keyboards.mood_picker(EN, (label for label in LABELS if label != "happy"))
    data = [button.callback_data for row in picker.inline_keyboard for button in row]
    assert "mood:happy" not in data and len(data) == len(LABELS) - 1 + 1 and data[-1] == "fix:cancel"


def test_the_can_t_tell_mood_picker_has_a_way_out():
    picker = keyboards.mood_picker(EN, correcting=False)
    data = [button.callback_data for row in picker.inline_keyboard for button in row]
    assert len(data) == len(LABELS) + 1 and data[-1] == "fix:skip"


def test_stats_show_the_model_and_nested_figures():
    text = stats_text({"users": 3, "thumbs_up_rate": {"match": 0.5, "lift": None}}, "1.2.0")
    assert text.splitlines() == ["<b>MoodTunes stats</b>", "model: 1.2.0", "users: 3", "thumbs_up_rate:",
                                 "    match: 0.50", "    lift: None"]
