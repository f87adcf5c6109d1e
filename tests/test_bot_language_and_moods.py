"""The user's language, respectful words, the consent age and the /moods picture, through the real bot
(`python -m bot`), the local Bot API server and the bot's SQLite file."""

import html
import re

import cv2
import numpy as np

from bot import texts
from bot.i18n import translator
from bot.mood_chart import CHART_SIZE, COLOURS
from bot_harness import agree, new_user, puzzling_selfie, rows, selfie, snapshot

PT, DE, RU = translator("pt_BR"), translator("de"), translator("ru")


def buttons(message: dict) -> list[str]:
    return [button["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for button in row]


def test_a_user_whose_telegram_speaks_portuguese_is_greeted_asked_and_answered_in_portuguese(telegram, running_bot):
    user = new_user(telegram, "Ana", language_code="pt-br")
    greeting = user.wait_for_reply(after=user.send("/start"))
    assert greeting["text"] == PT(texts.GREETING, name="Ana", age=16)
    assert "Tudo bem para você, e você tem 16 anos ou mais?" in greeting["text"]
    assert buttons(greeting) == ["✅ Aceito, e tenho 16 anos ou mais", "Agora não"]
    assert user.press(greeting, "consent:yes")["text"] == "Obrigado!"
    telegram.wait_until(lambda: user.message(greeting["message_id"])["text"] == PT(texts.CONSENT_GIVEN))

    answer = user.wait_for_reply(after=selfie(7).send(user), contains="Avalie com 👍 ou 👎")
    assert re.match(r"Vejo <b>\w+</b> \S+ neste rosto: (tenho quase certeza|tenho bastante certeza|acho que sim) "
                    r"\(\d+%\)\.", answer["text"]), answer["text"]
    assert "Músicas que combinam com seu humor:" in answer["text"] and "</b>, de " in answer["text"]
    assert "🙅 Não é o meu humor" in buttons(answer)
    assert user.press(answer, "1 👍")["text"] == "Salvo 👍, obrigado!"


def test_language_is_chosen_with_buttons_stored_with_the_user_and_erased_by_forget(telegram, running_bot):
    user = new_user(telegram, "Jonas", language_code="de-AT")
    assert user.wait_for_reply(after=user.send("/help"))["text"] == DE(texts.HELP)
    menu = user.wait_for_reply(after=user.send("/language"))
    assert menu["text"] == DE(texts.LANGUAGE_QUESTION)
    assert buttons(menu) == ["English", "Español", "Português (Brasil)", "Русский", "✅ Deutsch"]

    assert user.press(menu, "Русский")["text"] == "🌍 Хорошо, теперь я говорю по-русски."
    telegram.wait_until(lambda: "✅ Русский" in buttons(user.message(menu["message_id"])))
    assert user.message(menu["message_id"])["text"] == RU(texts.LANGUAGE_CHOSEN)
    assert rows(running_bot.database, "SELECT language, consent_given FROM users WHERE user_id = ?",
                user.user_id) == [("ru", 0)], "stored, and no consent implied"
    assert user.wait_for_reply(after=user.send("/help"))["text"] == RU(texts.HELP)

    question = user.wait_for_reply(after=user.send("/forget"))
    user.press(question, "forget:yes")
    telegram.wait_until(lambda: user.message(question["message_id"])["text"] == texts.forget_done(RU, 1))
    assert rows(running_bot.database, "SELECT * FROM users WHERE user_id = ?", user.user_id) == []
    assert user.wait_for_reply(after=user.send("/help"))["text"] == DE(texts.HELP), "back to Telegram's language"


def test_not_now_stores_nothing_even_after_the_age_question(telegram, running_bot):
    before = snapshot(running_bot.database)
    user = new_user(telegram, language_code="es")
    greeting = user.wait_for_reply(after=user.send("/start"))
    assert "¿Te parece bien, y tienes 16 años o más?" in greeting["text"]
    assert user.press(greeting, "Ahora no")["text"] == "De acuerdo."
    declined = translator("es")(texts.CONSENT_DECLINED)
    telegram.wait_until(lambda: user.message(greeting["message_id"])["text"] == declined)
    assert snapshot(running_bot.database) == before


def test_a_face_the_bot_can_t_read_gets_a_question_with_a_way_out(telegram, running_bot):
    user = new_user(telegram)
    agree(user)
    question = user.wait_for_reply(after=puzzling_selfie().send(user))
    assert "How do you feel?" in question["text"], "the model now reads this face: pick another for puzzling_selfie()"
    assert buttons(question)[-1] == "🤷 Skip this one"
    readings = rows(running_bot.database, "SELECT COUNT(*) FROM readings WHERE user_id = ?", user.user_id)
    user.press(question, "fix:skip")
    telegram.wait_until(lambda: user.message(question["message_id"])["text"] == texts.SKIPPED)
    assert "reply_markup" not in user.message(question["message_id"])
    assert rows(running_bot.database, "SELECT COUNT(*) FROM readings WHERE user_id = ?", user.user_id) == readings
    assert rows(running_bot.database, "SELECT COUNT(*) FROM emotion_feedback WHERE user_id = ?", user.user_id) == [(0,)]


def test_privacy_names_every_kind_of_data_kept_and_for_how_long(telegram, running_bot):
    user = new_user(telegram)
    privacy = user.wait_for_reply(after=user.send("/privacy"))["text"]
    for kind in ("your consent (with your word that you are 16 or older) and when", "whether you donate face crops",
                 "song mode and language", "mood log", "(not the photo)",
                 "the mood I read, how sure I was, how the model alone read each emotion, the model version",
                 "what I learn about your face", "a reading I'm sure of is never changed", "Unlearn my face",
                 "songs</b> I suggested", "ratings", "moods you corrected", "48×48 grey crop", "Only if you opt in",
                 "last few photos", "kept for 2 days at most", "photos per minute", "kept for 1 hour", "How long",
                 "deleted once they are 180 days old", "/forget erases all of it", "anonymous count of 👍/👎 stays",
                 "never written to disk"):
        assert kind in privacy, kind


def test_moods_draws_what_was_read_and_corrected_names_the_liked_songs_and_is_gone_after_forget(telegram, running_bot):
    user = new_user(telegram)
    assert user.wait_for_reply(after=user.send("/moods"))["text"] == texts.NO_MOODS_YET
    agree(user)
    answer = user.wait_for_reply(after=selfie(8).send(user), contains="Rate them")
    user.press(answer, "2 👍")
    liked_id = int(answer["reply_markup"]["inline_keyboard"][1][0]["callback_data"].split(":")[1])
    (liked_title,), = rows(running_bot.database, "SELECT so.title FROM suggestions s JOIN songs so USING (song_id) "
                                                 "WHERE s.suggestion_id = ?", liked_id)
    second = user.wait_for_reply(after=selfie(9).send(user), contains="Rate them")
    user.press(second, "fix")
    picker = telegram.wait_until(lambda: "mood:" in str(user.message(second["message_id"]).get("reply_markup"))
                                 and user.message(second["message_id"]))
    corrected = picker["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    user.press(picker, corrected)
    read = {emotion for (emotion,) in rows(running_bot.database, "SELECT emotion FROM readings WHERE user_id = ?",
                                           user.user_id)}

    journal = user.wait_for_reply(after=user.send("/moods"), contains="Your moods")
    image = cv2.imdecode(np.frombuffer(telegram.file_content(journal["photo"][-1]["file_id"]), np.uint8),
                         cv2.IMREAD_COLOR)
    assert image.shape == (CHART_SIZE[1], CHART_SIZE[0], 3)
    for emotion in read | {corrected.removeprefix("mood:")}:  # a dot for each mood read, a ring for the correction
        drawn = np.all(image[:, 70:] == COLOURS[emotion], axis=2).sum()  # right of the colour key
        assert drawn > 50, f"{emotion} is not drawn"
    assert f"🎵 The songs you liked most: <b>{html.escape(liked_title)}</b>" in journal["caption"]
    assert "● what I read in your photos  ○ what you told me" in journal["caption"]

    question = user.wait_for_reply(after=user.send("/forget"))
    user.press(question, "forget:yes")
    telegram.wait_until(lambda: user.message(question["message_id"])["text"].startswith("Done."))
    assert user.wait_for_reply(after=user.send("/moods"))["text"] == texts.NO_MOODS_YET
