"""Many users at once: every selfie is answered and every rating is stored exactly once."""

from bot_harness import agree, new_user, rows, selfie

USERS = 20


def test_twenty_users_sending_selfies_at_once_all_get_songs_and_keep_every_rating(telegram, running_bot):
    users = [new_user(telegram, f"User{number}") for number in range(USERS)]
    for user in users:
        agree(user)
    sent = [selfie(number % 8).send(user) for number, user in enumerate(users)]  # back to back, no waiting
    answers = [user.wait_for_reply(after=message_id, contains="Rate them", timeout=60)
               for user, message_id in zip(users, sent)]

    presses = [user.press_data(answer, button["callback_data"], wait=False)
               for user, answer in zip(users, answers)
               for row in answer["reply_markup"]["inline_keyboard"] for button in row
               if button["text"].endswith("👍")]
    telegram.wait_until(lambda: all(query in telegram.callback_answers for query in presses), timeout=60,
                        what="every rating to be answered")
    stored = rows(running_bot.database, "SELECT COUNT(*), COUNT(DISTINCT suggestion_id) FROM ratings "
                  f"WHERE user_id IN ({','.join('?' * USERS)})", *(user.user_id for user in users))
    assert stored == [(len(presses), len(presses))]
