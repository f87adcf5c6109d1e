"""What any bot process may need from an earlier update, kept in the database: answered photos (for "that's not my
mood"), the rate limit's counts and refusals, the user's lock. Two `Database`s on one real database (a SQLite file
and a PostgreSQL database) stand for two bot processes."""

import asyncio

import pytest

from databases import query
from db import AnsweredPhoto, Database
from db.engine import is_postgresql

SAD = {"angry": 0.02, "disgust": 0.01, "fear": 0.07, "happy": 0.02, "sad": 0.68, "surprise": 0.0, "neutral": 0.2}
CROP = bytes(range(256)) * 9  # 48 * 48 bytes
BUTTONS = {"inline_keyboard": [[{"text": "1 👍", "callback_data": "rate:1:up"}]]}
CHAT = 501
NOW = 1_700_000_000.0


@pytest.fixture
async def databases(database_address):
    """Two bot processes' connections to one database."""
    one = await Database.open(database_address)
    other = await Database.open(database_address)
    yield one, other
    await one.close()
    await other.close()


def photo(face48: bytes | None = CROP) -> AnsweredPhoto:
    return AnsweredPhoto("sad", SAD, "2.0.0", face48, BUTTONS)


async def test_a_photo_answered_by_one_process_is_recalled_by_another_only_for_its_user(databases):
    one, other = databases
    await one.set_consent(CHAT, True)
    await one.remember_photo(CHAT, 7, CHAT, photo(), keep=5)
    assert await other.recall_photo(CHAT, 7, CHAT) == photo(face48=None), "no crop without the donation opt-in"
    assert await other.recall_photo(CHAT, 7, 999) is None, "someone else's press recalls nothing"
    assert await other.drop_photo(CHAT, 7, CHAT) and not await one.drop_photo(CHAT, 7, CHAT), "dropped once"
    assert await one.recall_photo(CHAT, 7, CHAT) is None


async def test_only_the_user_s_latest_answers_are_kept(databases):
    one, other = databases
    await one.set_consent(CHAT, True)
    for message_id in range(1, 9):
        await (one, other)[message_id % 2].remember_photo(CHAT, message_id, CHAT, photo(), keep=5)
    assert [message_id for message_id in range(1, 9) if await one.recall_photo(CHAT, message_id, CHAT)] == \
        [4, 5, 6, 7, 8]


async def test_nothing_is_kept_for_a_user_who_no_longer_consents(databases):
    one, _ = databases
    await one.remember_photo(CHAT, 1, CHAT, photo(), keep=5)
    assert await one.recall_photo(CHAT, 1, CHAT) is None


@pytest.mark.parametrize("withdraw", ["donation off", "consent withdrawn"])
async def test_a_donor_s_pending_crop_goes_when_the_donation_ends(databases, withdraw):
    one, other = databases
    await one.set_consent(CHAT, True)
    await one.set_donation(CHAT, True)
    await one.remember_photo(CHAT, 1, CHAT, photo(), keep=5)
    assert (await other.recall_photo(CHAT, 1, CHAT)).face48 == CROP
    if withdraw == "donation off":
        await other.set_donation(CHAT, False)
        assert await one.recall_photo(CHAT, 1, CHAT) == photo(face48=None), "the guess can still be corrected"
    else:
        await other.set_consent(CHAT, False)
        await other.forget_photos(CHAT)
        assert await one.recall_photo(CHAT, 1, CHAT) is None
    assert query(one.address, "SELECT COUNT(face48) FROM answered_photos") == [(0,)]


async def test_photos_are_counted_across_processes_and_old_counts_are_deleted(databases):
    one, other = databases
    counted = [await (one, other)[n % 2].count_photo(1, 100 + n, limit=3, window_seconds=60, now=NOW + n)
               for n in range(5)]
    assert counted == [True, True, True, False, False]
    assert await other.count_photo(1, 101, limit=3, window_seconds=60, now=NOW + 6), "delivered again: counted once"
    assert await one.count_photo(2, 200, limit=3, window_seconds=60, now=NOW + 5), "another user is not held up"
    assert await other.count_photo(1, 300, limit=3, window_seconds=60, now=NOW + 61)
    assert query(one.address, "SELECT user_id, at FROM photo_events ORDER BY at") == \
        [(1, NOW + 2), (2, NOW + 5), (1, NOW + 61)]


async def test_of_several_processes_refusing_a_user_at_once_one_answers(databases):
    one, other = databases
    noted = await asyncio.gather(*(database.note_refusal(1, NOW, quiet_seconds=10) for database in (one, other) * 3))
    assert sorted(noted) == [False] * 5 + [True]
    assert not await one.note_refusal(1, NOW + 9, quiet_seconds=10)
    assert await other.note_refusal(1, NOW + 10, quiet_seconds=10)


async def test_forget_deletes_the_user_s_answered_photos_counts_and_refusals(databases):
    one, _ = databases
    for user_id in (1, 2):
        await one.set_consent(user_id, True)
        await one.remember_photo(user_id, 1, user_id, photo(), keep=5)
        await one.count_photo(user_id, user_id, limit=3, window_seconds=60, now=NOW)
        await one.note_refusal(user_id, NOW, quiet_seconds=10)
    deleted = await one.forget_user(1)
    assert {table: deleted[table] for table in ("answered_photos", "photo_events", "refusals")} == \
        {"answered_photos": 1, "photo_events": 1, "refusals": 1}
    for table in ("answered_photos", "photo_events", "refusals"):
        assert query(one.address, f"SELECT user_id FROM {table}") == [(2,)], table


async def test_the_user_lock_lets_one_holder_at_a_time_for_a_user_and_never_holds_up_another(databases):
    one, other = databases
    order = []
    held = (one, other) if is_postgresql(one.address) else (one, one)  # on SQLite, one process per file

    async def hold(user_id: int, name: str) -> None:
        async with held[name == "b"].user_lock(user_id):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    await asyncio.gather(hold(1, "a"), hold(1, "b"), hold(2, "c"))
    first, second = sorted("ab", key=lambda name: order.index(f"{name} in"))
    assert order.index(f"{first} out") < order.index(f"{second} in"), "one holder of a user at a time"
    assert order.index("c in") < order.index(f"{first} out"), "another user is not held up"
