"""Users talking to the real bot (`python -m bot`) through the local Bot API server, checked in its SQLite file."""

import re
import time
from contextlib import contextmanager

import pytest

from bot import texts
from bot.i18n import LANGUAGES, translator
from bot_harness import (ADMIN_ID, agree, as_iphone_heic, group_photo, new_user, rows, rows_about, selfie, snapshot,
                         wait_until_remembered)

RATING_BUTTON = re.compile(r"^(✅ )?\d 👍$")


def rating_rows(message: dict) -> list[list[dict]]:
    return [row for row in message["reply_markup"]["inline_keyboard"] if RATING_BUTTON.match(row[0]["text"])]


def test_the_bot_publishes_its_command_menu_on_start_in_every_language(telegram, running_bot):
    menus = telegram.command_menus()
    commands = ["start", "moods", "mode", "language", "consent", "privacy", "forget", "help"]
    for language in LANGUAGES:
        code = None if language == "en" else language.split("_")[0]  # Telegram menus take two-letter codes
        descriptions = [translator(language)(texts.COMMANDS[command]) for command in commands]
        assert menus[None, code] == list(zip(commands, descriptions))
        assert [command for command, _ in menus[ADMIN_ID, code]] == commands + ["stats"]
    assert menus[None, "pt"][0] == ("start", "Dizer oi e ver o que eu faço")
    assert set(menus) == {(scope, code) for scope in (None, ADMIN_ID) for code in (None, "es", "pt", "ru", "de")}


def test_a_selfie_gets_a_mood_and_songs_that_can_be_rated_and_re_rated(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    sent = selfie().send(user)
    answer = user.wait_for_reply(after=sent, contains="Rate them")
    assert telegram.calls_to("sendChatAction", user.user_id), "the user saw the bot working"
    assert re.search(r"\((\d+)%\)", answer["text"]), "the confidence is shown"
    songs = rating_rows(answer)
    assert 3 <= len(songs) <= 5 and answer["text"].count("<a href=") >= len(songs)
    suggestion_id = int(songs[0][0]["callback_data"].split(":")[1])

    assert user.press(answer, "1 👍")["text"] == "Saved 👍, thanks!"
    telegram.wait_until(lambda: rating_rows(user.message(answer["message_id"]))[0][0]["text"] == "✅ 1 👍")
    assert rows(running_bot.database, "SELECT thumbs_up FROM ratings WHERE suggestion_id = ?", suggestion_id) == [(1,)]

    assert user.press(user.message(answer["message_id"]), "1 👎")["text"] == "Saved 👎, thanks!"
    telegram.wait_until(lambda: [b["text"] for b in rating_rows(user.message(answer["message_id"]))[0]]
                        == ["1 👍", "✅ 1 👎"])
    assert rows(running_bot.database, "SELECT thumbs_up FROM ratings WHERE suggestion_id = ?", suggestion_id) == [(0,)]


def test_an_iphone_heic_selfie_sent_as_a_file_gets_a_mood_and_songs(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    sent = user.send_document(as_iphone_heic(selfie()), "IMG_0042.HEIC", "image/heic")
    answer = user.wait_for_reply(after=sent, contains="Rate them")
    assert re.search(r"\((\d+)%\)", answer["text"]) and 3 <= len(rating_rows(answer)) <= 5
    assert rows(running_bot.database, "SELECT COUNT(*) FROM suggestions WHERE user_id = ?", user.user_id) \
        == [(len(rating_rows(answer)),)]


def test_pressing_the_same_rating_twice_stores_it_once_and_raises_no_error(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    answer = user.wait_for_reply(after=selfie(1).send(user), contains="Rate them")
    user.press(answer, "2 👍")
    telegram.wait_until(lambda: rating_rows(user.message(answer["message_id"]))[1][0]["text"] == "✅ 2 👍")
    assert user.press(user.message(answer["message_id"]), "✅ 2 👍")["text"] == "Saved 👍, thanks!"
    assert rows(running_bot.database, "SELECT COUNT(*) FROM ratings WHERE user_id = ?", user.user_id) == [(1,)]


def test_a_press_telegram_delivers_twice_is_stored_once_and_its_second_answer_is_no_error(telegram, running_bot):
    """Telegram posts an update again when a bot process died before saying it had it, even if it had answered."""
    user = new_user(telegram)
    agree(user)
    answer = user.wait_for_reply(after=selfie(2).send(user), contains="Rate them")
    data = answer["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    query_id = user.press_data(answer, data, wait=False)
    telegram.wait_until(lambda: query_id in telegram.callback_answers, what="the first answer to the press")
    answers_before = len(telegram.calls_to("answerCallbackQuery"))
    telegram.push_update("callback_query", {"id": query_id, "from": user.profile, "chat_instance": "1",
                                            "message": answer, "data": data})
    telegram.wait_until(lambda: len(telegram.calls_to("answerCallbackQuery")) > answers_before,
                        what="the bot to try answering the press again")
    time.sleep(0.5)  # time to log what happened
    assert rows(running_bot.database, "SELECT thumbs_up FROM ratings WHERE user_id = ?", user.user_id) == [(1,)]
    assert "Traceback" not in running_bot.log_text() and "ERROR" not in running_bot.log_text()


def test_correcting_the_mood_stores_feedback_and_suggests_songs_for_it(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    answer = user.wait_for_reply(after=selfie(2).send(user), contains="Rate them")
    user.press(answer, "🙅 That's not my mood")
    picker = telegram.wait_until(lambda: "mood:" in str(user.message(answer["message_id"]).get("reply_markup"))
                                 and user.message(answer["message_id"]))
    choices = [b["callback_data"] for row in picker["reply_markup"]["inline_keyboard"] for b in row]
    assert len(choices) == 7 and "fix:cancel" in choices
    corrected = choices[0].removeprefix("mood:")
    assert user.press(user.message(answer["message_id"]), choices[0])["text"] == "Thanks, noted!"

    fixed = telegram.wait_until(lambda: "Thanks for telling me" in user.message(answer["message_id"])["text"]
                                and user.message(answer["message_id"]))
    assert 3 <= len(rating_rows(fixed)) <= 5 and "That's not my mood" not in str(fixed["reply_markup"])
    feedback = rows(running_bot.database, "SELECT predicted, corrected, face48 FROM emotion_feedback WHERE user_id = ?",
                    user.user_id)
    assert len(feedback) == 1 and feedback[0][1] == corrected and feedback[0][0] != corrected
    assert feedback[0][2] is None, "no crop is kept without the donation opt-in"
    new_ids = [int(row[0]["callback_data"].split(":")[1]) for row in rating_rows(fixed)]
    placeholders = ",".join("?" * len(new_ids))
    assert {emotion for (emotion,) in rows(running_bot.database, "SELECT emotion FROM suggestions WHERE "
                                           f"suggestion_id IN ({placeholders})", *new_ids)} == {corrected}


def test_leaving_the_mood_picker_brings_the_song_buttons_back(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    answer = user.wait_for_reply(after=selfie(3).send(user), contains="Rate them")
    user.press(answer, "🙅 That's not my mood")
    telegram.wait_until(lambda: "fix:cancel" in str(user.message(answer["message_id"]).get("reply_markup")))
    user.press(user.message(answer["message_id"]), "fix:cancel")
    telegram.wait_until(lambda: user.message(answer["message_id"])["reply_markup"] == answer["reply_markup"])


def test_a_donor_s_correction_keeps_the_face_crop_until_donation_is_turned_off(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    settings = user.wait_for_reply(after=user.send("/consent"), contains="You agreed on")
    assert "donation is <b>off" in settings["text"]
    user.press(settings, "donate:on")
    telegram.wait_until(lambda: "donation is <b>on" in user.message(settings["message_id"])["text"])
    answer = user.wait_for_reply(after=selfie(4).send(user), contains="Rate them")
    user.press(answer, "fix")
    picker = telegram.wait_until(lambda: "fix:cancel" in str(user.message(answer["message_id"]).get("reply_markup"))
                                 and user.message(answer["message_id"]))
    user.press(picker, picker["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
    crops = rows(running_bot.database, "SELECT length(face48) FROM emotion_feedback WHERE user_id = ?", user.user_id)
    assert crops == [(48 * 48,)]

    user.press(user.message(settings["message_id"]), "donate:off")
    telegram.wait_until(lambda: "donation is <b>off" in user.message(settings["message_id"])["text"])
    assert rows(running_bot.database, "SELECT face48 FROM emotion_feedback WHERE user_id = ?", user.user_id) in \
        ([], [(None,)])


def test_a_group_photo_is_answered_for_the_biggest_face_and_says_so(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    answer = user.wait_for_reply(after=group_photo().send(user))
    assert answer["text"].startswith("I see 2 faces, so I read the biggest one.")


def test_lift_mode_is_chosen_with_a_button_and_used_for_the_next_songs(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    menu = user.wait_for_reply(after=user.send("/mode"), contains="Right now")
    assert menu["reply_markup"]["inline_keyboard"][0][0]["text"].startswith("✅")
    assert user.press(menu, "mode:lift")["text"] == "Mode changed."
    telegram.wait_until(lambda: user.message(menu["message_id"])["reply_markup"]["inline_keyboard"][0][1]["text"]
                        .startswith("✅"))
    assert rows(running_bot.database, "SELECT mode FROM users WHERE user_id = ?", user.user_id) == [("lift",)]
    answer = user.wait_for_reply(after=selfie(5).send(user), contains="Rate them")
    assert "Songs to lift your mood:" in answer["text"]


def test_withdrawing_consent_stops_photo_processing(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    settings = user.wait_for_reply(after=user.send("/consent"), contains="You agreed on")
    assert user.press(settings, "Withdraw consent")["text"] == "Consent withdrawn."
    reminder = user.wait_for_reply(after=selfie().send(user), contains="I need your okay")
    assert "consent:yes" in str(reminder["reply_markup"])
    assert rows(running_bot.database, "SELECT consent_given FROM users WHERE user_id = ?", user.user_id) == [(0,)]


def test_forget_after_confirmation_deletes_every_row_about_the_user(telegram, running_bot):
    user, bystander = new_user(telegram), new_user(telegram)
    for person in (user, bystander):
        agree(person)
        answer = person.wait_for_reply(after=selfie(6).send(person), contains="Rate them")
        person.press(answer, "1 👍")
    assert sum(rows_about(running_bot.database, user.user_id).values()) > 5
    bystander_rows = rows_about(running_bot.database, bystander.user_id)

    question = user.wait_for_reply(after=user.send("/forget"), contains="Go ahead?")
    user.press(question, "Cancel")
    telegram.wait_until(lambda: user.message(question["message_id"])["text"] == texts.FORGET_CANCELLED)
    question = user.wait_for_reply(after=user.send("/forget"), contains="Go ahead?")
    assert user.press(question, "🗑 Yes, delete everything")["text"] == "Everything about you is deleted."
    done = telegram.wait_until(lambda: user.message(question["message_id"])["text"].startswith("Done.")
                               and user.message(question["message_id"]))
    assert "nothing is left" in done["text"]
    assert set(rows_about(running_bot.database, user.user_id).values()) == {0}
    assert rows_about(running_bot.database, bystander.user_id) == bystander_rows


def answer_songs(database, answer: dict) -> list[tuple[int, str]]:
    """(suggestion id, genre) of each song of an answer, in order."""
    ids = [int(row[0]["callback_data"].split(":")[1]) for row in rating_rows(answer)]
    genres = dict(rows(database, "SELECT s.suggestion_id, so.genre FROM suggestions s JOIN songs so USING (song_id) "
                                 f"WHERE s.suggestion_id IN ({','.join('?' * len(ids))})", *ids))
    return [(suggestion_id, genres[suggestion_id]) for suggestion_id in ids]


def test_a_user_who_thumbs_down_a_genre_stops_getting_it_first_and_forget_erases_their_taste(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    answer = user.wait_for_reply(after=selfie(7).send(user), contains="Rate them")
    first = answer_songs(running_bot.database, answer)
    disliked = first[0][1]
    for suggestion_id, genre in first:
        user.press(user.message(answer["message_id"]), f"rate:{suggestion_id}:{'down' if genre == disliked else 'up'}")
    for _ in range(2):  # the same face: the same mood
        later = answer_songs(running_bot.database,
                             user.wait_for_reply(after=selfie(7).send(user), contains="Rate them"))
        assert later[0][1] != disliked, (disliked, first, later)

    question = user.wait_for_reply(after=user.send("/forget"), contains="Go ahead?")
    user.press(question, "🗑 Yes, delete everything")
    telegram.wait_until(lambda: user.message(question["message_id"])["text"].startswith("Done."))
    assert set(rows_about(running_bot.database, user.user_id).values()) == {0}, "no thumbs, hence no taste, is left"


def test_help_and_privacy_explain_the_bot_and_what_it_stores(telegram, running_bot):
    user = new_user(telegram)
    assert "/forget" in user.wait_for_reply(after=user.send("/help"), contains="How MoodTunes works")["text"]
    privacy = user.wait_for_reply(after=user.send("/privacy"), contains="Privacy")["text"]
    assert "never written to disk" in privacy and "How long" in privacy
    assert user.wait_for_reply(after=user.send("hello?"))["text"] == texts.OTHER_MESSAGE


def test_stats_are_for_admins_only(telegram, running_bot):
    admin, user = telegram.user(ADMIN_ID, "Ada"), new_user(telegram)
    assert user.wait_for_reply(after=user.send("/stats"))["text"] == texts.ADMINS_ONLY
    figures = admin.wait_for_reply(after=admin.send("/stats"), contains="MoodTunes stats")["text"]
    assert "model: " in figures


def test_nothing_is_stored_for_someone_who_only_said_hello_and_not_now(telegram, running_bot):
    before = snapshot(running_bot.database)
    user = new_user(telegram)
    greeting = user.wait_for_reply(after=user.send("/start"), contains="Is that okay")
    user.press(greeting, "Not now")
    telegram.wait_until(lambda: user.message(greeting["message_id"])["text"] == texts.CONSENT_DECLINED)
    assert "reply_markup" not in user.message(greeting["message_id"])
    assert snapshot(running_bot.database) == before


@contextmanager
def photo_in_flight_of(telegram):
    """Downloads wait until the block ends: a photo sent meanwhile is being read when the user does something."""
    telegram.downloads_open.clear()
    try:
        yield
    finally:
        telegram.downloads_open.set()


@pytest.mark.parametrize("withdraw", ["forget", "consent"])
def test_a_photo_in_flight_when_the_user_erases_their_data_or_withdraws_consent_is_dropped(telegram, running_bot,
                                                                                         withdraw):
    user = new_user(telegram)
    agree(user)
    settings = user.wait_for_reply(after=user.send("/consent"), contains="You agreed on")
    with photo_in_flight_of(telegram):
        requested, downloaded = telegram.download_requests, len(telegram.downloads)
        sent = selfie().send(user)
        telegram.wait_until(lambda: telegram.download_requests > requested, what="the photo's download")
        if withdraw == "forget":
            question = user.wait_for_reply(after=user.send("/forget"), contains="Go ahead?")
            user.press(question, "🗑 Yes, delete everything")
        else:
            user.press(settings, "Withdraw consent")
    telegram.wait_until(lambda: len(telegram.downloads) > downloaded, what="the download to finish")
    time.sleep(1.5)  # the photo, now read, would be answered within this
    assert not any("Rate them" in message["text"] or message["text"] == texts.NO_FACE
                   for message in telegram.chat(user.user_id) if message["message_id"] > sent)
    about = rows_about(running_bot.database, user.user_id)
    assert about.get("readings") == 0 and about.get("suggestions") == 0, about
    if withdraw == "forget":
        assert set(about.values()) == {0}, "nothing recreated the user"


def test_a_button_under_a_message_from_before_forget_never_rates_a_newer_song(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    old_answer = user.wait_for_reply(after=selfie(7).send(user), contains="Rate them")
    question = user.wait_for_reply(after=user.send("/forget"), contains="Go ahead?")
    user.press(question, "🗑 Yes, delete everything")
    telegram.wait_until(lambda: user.message(question["message_id"])["text"].startswith("Done."))
    agree(user)
    user.wait_for_reply(after=selfie(7).send(user), contains="Rate them")

    assert user.press(user.message(old_answer["message_id"]), "1 👍")["text"] == texts.SUGGESTION_GONE
    assert rows(running_bot.database, "SELECT COUNT(*) FROM ratings WHERE user_id = ?", user.user_id) == [(0,)]


@pytest.mark.parametrize("data", [None, "", "rate:99999999999999999999999:up", "rate:1:up" + "x" * 60, "consent:maybe",
                                  "mood:happy", "fix", "fix:cancel"],
                         ids=["missing", "empty", "huge_id", "too_long", "unknown", "mood_no_message", "fix_no_message",
                              "cancel_no_message"])
def test_a_forged_button_press_gets_the_out_of_date_answer_and_changes_nothing(telegram, running_bot, data):
    user = new_user(telegram)
    agree(user)
    answer = user.wait_for_reply(after=selfie(1).send(user), contains="Rate them")
    wait_until_remembered(telegram, running_bot.database, answer)
    before = snapshot(running_bot.database)
    without_message = data is not None and data.startswith(("mood:", "fix"))
    query_id = f"query-{user.user_id}-forged"
    telegram.push_update("callback_query", {"id": query_id, "from": user.profile, "chat_instance": "1",
                                            **({"inline_message_id": "1"} if without_message else {"message": answer}),
                                            **({} if data is None else {"data": data})})
    reply = telegram.wait_until(lambda: telegram.callback_answers.get(query_id), what="the answer to the press")
    assert reply["text"].startswith("This button is out of date")
    assert snapshot(running_bot.database) == before, "consent, crops and ratings are untouched"
    assert "Traceback" not in running_bot.log_text()


def test_a_press_on_another_chat_s_message_with_the_same_id_does_not_act_on_the_user_s_photo(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    answer = user.wait_for_reply(after=selfie(2).send(user), contains="Rate them")
    elsewhere = {**answer, "chat": {"id": -1001234, "type": "supergroup", "title": "Elsewhere"}}
    assert user.press_data(elsewhere, "fix")["text"] == texts.OLD_PHOTO


def test_at_debug_level_the_log_holds_no_name_text_or_file_id(telegram, running_bot):
    user = new_user(telegram, "Zebulonia")
    agree(user)
    user.wait_for_reply(after=user.send("my diary entry number 7731"))
    user.wait_for_reply(after=selfie().send(user), contains="Rate them")
    file_id = telegram.calls_to("getFile", None)[-1].params["file_id"]
    log = running_bot.log_text()
    assert "Zebulonia" not in log and "diary entry" not in log
    assert f"'{file_id}'" not in log and f'"{file_id}"' not in log
