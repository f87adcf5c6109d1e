"""How 1 and 3 bot processes (replicas) behind a load balancer keep up, and what a replica killed mid-load loses:
`python -m bot` in webhook mode against the local Bot API server the tests use (tests/bot_api_server.py, with the
round-robin load balancer of tests/bot_replicas.py), nothing mocked.

    python -m tools.replica_bench [--users 50] [--photos 10] [--replicas 1 3] [--no-kill]
                                  [--database-url postgresql://...] [--json]

1. Throughput: 1, then 3 replicas on one database (a fresh SQLite file each time, or the PostgreSQL database at
   --database-url), the rate limit lifted. `users` users each send `photos` selfies, one after the other (the next
   once the last is answered), all users at once. Prints photos/s, the p50/p95 time from a photo to its answer, the
   CPU time the bot processes used per photo and how many cores they kept busy on average (and the benchmark's own
   process, which plays Telegram and the users on the same machine).
2. A replica killed: 3 replicas again, every answer rated 👍; one replica is SIGKILLed once a third of the photos
   are answered. Prints the ratings lost (acknowledged to Telegram but not stored; target 0) and the photos answered
   twice (at most those the killed replica had in hand).
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the local Bot API server, the load balancer and the selfies the tests use

from bot_api_server import BotApiServer  # noqa: E402
from bot_harness import TOKEN, agree, new_user, selfie  # noqa: E402
from bot_replicas import Cluster, start_cluster  # noqa: E402

from bot import texts  # noqa: E402
from db import Database  # noqa: E402
from tools.proc_stats import cpu_seconds  # noqa: E402

ANSWER_TIMEOUT = 120.0  # a user sends their next photo after this long without an answer
DRAIN_TIMEOUT = 300.0  # at the end, updates still unanswered by then count as lost
SELFIES = 8  # different selfies, sent in turn


def throughput(folder: Path, replicas: int, users: int, photos: int, database: str | None) -> dict:
    """Photos per second, reply latency and CPU use of `replicas` replicas."""
    telegram, cluster = _start(folder, replicas, users, photos, database)
    try:
        people, latencies = _people(telegram, users), []
        pids = [replica.process.pid for replica in cluster.replicas]
        started, bot_cpu, bench_cpu = time.perf_counter(), cpu_seconds(*pids), time.process_time()
        with ThreadPoolExecutor(users) as pool:
            firsts = list(pool.map(lambda person: _send_photos(person, photos, latencies), people))
        seconds = time.perf_counter() - started
        bot_cpu, bench_cpu = cpu_seconds(*pids) - bot_cpu, time.process_time() - bench_cpu
        counts = _answers(telegram, people, firsts, photos)
    finally:
        cluster.stop()
        telegram.stop()
    latencies.sort()
    return {"replicas": replicas, "photos": users * photos, "seconds": round(seconds, 1),
            "photos_per_second": round(len(latencies) / seconds, 1),
            "p50_ms": round(1000 * statistics.median(latencies)) if latencies else None,
            "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))]) if latencies else None,
            "cpu_ms_per_photo": round(1000 * bot_cpu / max(len(latencies), 1), 1),
            "cores": round(bot_cpu / seconds, 2), "bench_cores": round(bench_cpu / seconds, 2), **counts}


def replica_killed(folder: Path, users: int, photos: int, database: str | None) -> dict:
    """Ratings lost and photos answered twice when one of 3 replicas is SIGKILLed mid-load."""
    telegram, cluster = _start(folder, 3, users, photos, database)
    try:
        people, latencies = _people(telegram, users), []
        ratings_before = asyncio.run(_ratings_stored(cluster))
        first_update = telegram.latest_update_id + 1
        with ThreadPoolExecutor(users) as pool:
            futures = [pool.submit(_send_photos, person, photos, latencies, True) for person in people]
            in_hand = cluster.kill_when(1, lambda updates: len(latencies) >= users * photos // 3 and any(
                "photo" in telegram.pushed.get(update, {}).get("message", {}) for update in updates),
                timeout=DRAIN_TIMEOUT)
            firsts = [future.result() for future in futures]
        updates = range(first_update, telegram.latest_update_id + 1)
        try:
            telegram.wait_until(lambda: all(telegram.webhook_answered(update) for update in updates),
                                timeout=DRAIN_TIMEOUT, what="every update to be acknowledged")
        except AssertionError:
            pass  # counted below
        acknowledged = {update for update in updates if telegram.webhook_answered(update)}
        rated = {telegram.pushed[update]["callback_query"]["data"] for update in acknowledged
                 if "callback_query" in telegram.pushed[update]}
        counts = _answers(telegram, people, firsts, photos)
        stored = asyncio.run(_ratings_stored(cluster)) - ratings_before
    finally:
        cluster.stop()
        telegram.stop()
    return {"photos": users * photos, "ratings_acknowledged": len(rated), "ratings_lost": max(0, len(rated) - stored),
            "photos_in_hand_when_killed": sum("photo" in telegram.pushed[update].get("message", {})
                                              for update in in_hand if update in telegram.pushed),
            "updates_unacknowledged": len(updates) - len(acknowledged), **counts}


def _start(folder: Path, replicas: int, users: int, photos: int, database: str | None) -> tuple[BotApiServer, Cluster]:
    telegram = BotApiServer(TOKEN).start()
    telegram.webhook_timeout = ANSWER_TIMEOUT  # a slow answer must not be taken for a lost one, and posted again
    target = database or folder / "moodtunes.sqlite3"
    try:
        return telegram, start_cluster(telegram, folder, replicas, target, LOG_LEVEL="INFO",
                                       RATE_LIMIT_PHOTOS_PER_MINUTE=str(10 * photos))
    except BaseException:
        telegram.stop()
        raise


def _people(telegram: BotApiServer, users: int) -> list:
    people = [new_user(telegram, f"Bench{number}") for number in range(users)]
    for person in people:
        agree(person)
    return people


def _send_photos(person, photos: int, latencies: list[float], rate: bool = False) -> int:
    """Send the photos one after the other, each once the last is answered, noting each one's time to its answer;
    rate a song of each answer if `rate`. Returns the first photo's message id."""
    first = None
    for number in range(photos):
        photo = selfie(number % SELFIES)
        started = time.perf_counter()
        sent = photo.send(person)
        first = first or sent
        try:
            answer = person.wait_for_reply(after=sent, timeout=ANSWER_TIMEOUT)
        except AssertionError:
            continue  # slow, not failed: counted at the end
        latencies.append(time.perf_counter() - started)
        buttons = answer.get("reply_markup", {}).get("inline_keyboard")
        if rate and buttons:
            person.press_data(answer, buttons[0][0]["callback_data"], wait=False)
    return first


def _answers(telegram: BotApiServer, people: list, firsts: list[int], photos: int) -> dict:
    """Photos never answered, answered twice, and answered with an apology, waiting for the late ones."""
    def replies(person, first: int) -> list[str]:
        return [message["text"] for message in telegram.chat(person.user_id) if message["message_id"] > first]

    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline and any(len(replies(person, first)) < photos
                                              for person, first in zip(people, firsts)):
        time.sleep(0.5)
    counts = [replies(person, first) for person, first in zip(people, firsts)]
    return {"unanswered": sum(max(0, photos - len(answers)) for answers in counts),
            "answered_twice": sum(max(0, len(answers) - photos) for answers in counts),
            "sorry": sum(answers.count(texts.SORRY) for answers in counts)}


async def _ratings_stored(cluster: Cluster) -> int:
    """Ratings in the replicas' database, read as the bot reads it."""
    async with await Database.open(cluster.replicas[0].database, create=False) as database:
        stats = await database.stats()
    return sum(count for per_mode in stats["ratings"].values() for thumbs in per_mode.values()
               for count in thumbs.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.replica_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--photos", type=int, default=10, help="photos each user sends")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3], help="replica counts to measure")
    parser.add_argument("--kill", action=argparse.BooleanOptionalAction, default=True,
                        help="then kill one of 3 replicas mid-load (default: yes)")
    parser.add_argument("--database-url", help="a postgresql:// database for the replicas (default: a SQLite file)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for number in range(SELFIES):  # made before the clock starts
        selfie(number)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for replicas in args.replicas:
            (Path(folder) / f"{replicas}").mkdir()
            results[f"replicas_{replicas}"] = throughput(Path(folder) / f"{replicas}", replicas, args.users,
                                                         args.photos, args.database_url)
        if args.kill:
            (Path(folder) / "killed").mkdir()
            results["replica_killed"] = replica_killed(Path(folder) / "killed", args.users, args.photos,
                                                       args.database_url)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    database = "PostgreSQL" if args.database_url else "SQLite file"
    print(f"{args.users} users x {args.photos} photos, one after the other per user, all users at once; {database}")
    for replicas in args.replicas:
        run = results[f"replicas_{replicas}"]
        print(f"{replicas} replica{'s' if replicas > 1 else ' '}: {run['photos_per_second']} photos/s, reply p50 "
              f"{run['p50_ms']} ms, p95 {run['p95_ms']} ms ({run['photos']} photos in {run['seconds']} s; "
              f"{run['unanswered']} unanswered, {run['answered_twice']} answered twice, {run['sorry']} 'Sorry'); "
              f"bot CPU {run['cpu_ms_per_photo']} ms a photo, {run['cores']} cores on average "
              f"(the benchmark itself: {run['bench_cores']} cores)")
    if not args.kill:
        return 0
    killed = results["replica_killed"]
    print(f"1 of 3 replicas SIGKILLed mid-load: {killed['ratings_lost']} ratings lost of "
          f"{killed['ratings_acknowledged']} acknowledged (target 0); {killed['answered_twice']} photos answered twice "
          f"({killed['photos_in_hand_when_killed']} were in its hands), {killed['unanswered']} unanswered, "
          f"{killed['updates_unacknowledged']} updates never acknowledged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
