"""How the real bot holds up under concurrent writers and a webhook flood: `python -m bot` against the local Bot API
server the tests use (tests/bot_api_server.py), nothing mocked.

    python -m tools.bot_bench [--users 50] [--photos 10] [--imports 8] [--songs 20000] [--posts 20] [--post-mb 10]
                              [--json]

1. Concurrent writers: `users` users each send `photos` selfies (one after the other, all users at once) while
   `imports` `python -m db import-songs` processes keep importing into the same database file, one after another.
   Prints how many photos failed (a "Sorry", or no answer at all, waiting up to five minutes at the end); target 0;
   and the bot's CPU time per photo and the cores it kept busy on average meanwhile.
2. Webhook memory: the bot in webhook mode gets `posts` parallel POSTs of `post-mb` MB each without the secret.
   Prints the bot's peak memory (VmHWM, start-up included); target <= 150 MB.
"""

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the local Bot API server and the selfies the tests use

from bot_api_server import BotApiServer  # noqa: E402
from bot_harness import TOKEN, agree, new_user, selfie, start_bot  # noqa: E402

from bot import texts  # noqa: E402
from tools.db_bench import write_catalog_csv  # noqa: E402
from tools.proc_stats import cpu_seconds, peak_mb  # noqa: E402

ANSWER_TIMEOUT = 120.0  # a user sends their next photo after this long without an answer
DRAIN_TIMEOUT = 300.0  # at the end, an answer this late still counts as an answer (slow is not failed)


def concurrent_writers(folder: Path, users: int, photos: int, imports: int, songs: int) -> dict:
    """Photos answered and failed while `imports` importers write the bot's database."""
    telegram = BotApiServer(TOKEN).start()
    bot = start_bot(telegram, folder, LOG_LEVEL="INFO", RATE_LIMIT_PHOTOS_PER_MINUTE=str(photos * 10))
    writing, import_runs, import_failures = threading.Event(), [], []
    writing.set()

    def keep_importing(number: int) -> None:
        csv_path = folder / f"songs_{number}.csv"
        write_catalog_csv(csv_path, songs, seed=100 + number)
        while writing.is_set():
            run = subprocess.run([sys.executable, "-m", "db", "--db", str(bot.database), "import-songs",
                                  str(csv_path)], cwd=REPO, capture_output=True, text=True)
            (import_runs if run.returncode == 0 else import_failures).append(run.stderr[-300:])

    def send_photos(person) -> int:
        """Send the photos one after the other, each once the last is answered (or waited for long enough)."""
        first = None
        for photo in range(photos):
            sent = selfie(photo % 8).send(person)
            first = first or sent
            try:
                person.wait_for_reply(after=sent, timeout=ANSWER_TIMEOUT)
            except AssertionError:
                pass  # slow, not failed: counted at the end
        return first

    def answers_to(person, first: int) -> list[str]:
        """The bot's answers to the photos, waiting up to DRAIN_TIMEOUT for the late ones."""
        try:
            person.wait_for_replies(after=first, count=photos, timeout=DRAIN_TIMEOUT)
        except AssertionError:
            pass
        return [message["text"] for message in telegram.chat(person.user_id) if message["message_id"] > first]

    importers = [threading.Thread(target=keep_importing, args=(number,)) for number in range(imports)]
    try:
        people = [new_user(telegram, f"Bench{number}") for number in range(users)]
        for person in people:
            agree(person)
        for importer in importers:
            importer.start()
        while imports and not (import_runs or import_failures):  # every importer is writing once one has finished
            time.sleep(0.5)
        started, cpu = time.perf_counter(), cpu_seconds(bot.process.pid)
        with ThreadPoolExecutor(users) as pool:
            firsts = list(pool.map(send_photos, people))
        seconds, cpu = time.perf_counter() - started, cpu_seconds(bot.process.pid) - cpu
        answers = [answers_to(person, first) for person, first in zip(people, firsts)]
    finally:
        writing.clear()
        for importer in importers:
            if importer.is_alive():
                importer.join()
        bot.stop()
        telegram.stop()
    sorry = sum(replies.count(texts.SORRY) for replies in answers)
    answered = sum(min(len(replies), photos) for replies in answers)
    return {"photos": users * photos, "answered": answered - sorry, "failed": sorry,
            "unanswered": users * photos - answered, "seconds": round(seconds, 1),
            "cpu_ms_per_photo": round(1000 * cpu / max(answered, 1), 1), "cores": round(cpu / seconds, 2),
            "imports_done": len(import_runs), "imports_failed": len(import_failures),
            "database_locked_in_log": bot.log_text().count("database is locked")}


def webhook_memory(folder: Path, posts: int, post_mb: int) -> dict:
    """The bot's peak memory before and after `posts` parallel unauthenticated POSTs of `post_mb` MB."""
    telegram = BotApiServer(TOKEN).start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = start_bot(telegram, folder, LOG_LEVEL="INFO", WEBHOOK_URL="https://moodtunes.example.org/hook",
                    PORT=str(port))
    before = peak_mb(bot.process.pid)
    chunk = b"x" * (1024 * 1024)

    def attack(_) -> str:
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.putrequest("POST", "/hook")
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(post_mb * len(chunk)))
            connection.endheaders()
            for _ in range(post_mb):
                connection.send(chunk)
            return str(connection.getresponse().status)
        except OSError:
            return "closed"
        finally:
            connection.close()

    try:
        with ThreadPoolExecutor(posts) as pool:
            answers = list(pool.map(attack, range(posts)))
        time.sleep(1)
        after = peak_mb(bot.process.pid)
    finally:
        bot.stop()
        telegram.stop()
    return {"posts": posts, "post_mb": post_mb, "answers": sorted(set(answers)), "peak_mb_before": before,
            "peak_mb_after": after}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bot_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--imports", type=int, default=8)
    parser.add_argument("--songs", type=int, default=5_000, help="songs in each importer's CSV")
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--post-mb", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as writers_folder, tempfile.TemporaryDirectory() as webhook_folder:
        writers = concurrent_writers(Path(writers_folder), args.users, args.photos, args.imports, args.songs)
        webhook = webhook_memory(Path(webhook_folder), args.posts, args.post_mb)
    if args.json:
        print(json.dumps({"concurrent_writers": writers, "webhook": webhook}, indent=2))
        return 0
    print(f"Concurrent writers: {writers['failed'] + writers['unanswered']} of {writers['photos']} photos failed "
          f"(target 0; {writers['failed']} 'Sorry', {writers['unanswered']} never answered) "
          f"with {args.imports} imports "
          f"of {args.songs:,} songs running ({writers['imports_done']} done, {writers['imports_failed']} failed), "
          f"{args.users} users x {args.photos} photos sent in "
          f"{writers['seconds']} s; 'database is locked' in the log: {writers['database_locked_in_log']}; "
          f"bot CPU {writers['cpu_ms_per_photo']} ms a photo, {writers['cores']} cores on average")
    print(f"Webhook: {args.posts} parallel {args.post_mb} MB POSTs without the secret, answered {webhook['answers']}: "
          f"peak memory {webhook['peak_mb_after']} MB (target <= 150 MB; {webhook['peak_mb_before']} MB before)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
