"""How much a user's thumbs teach the recommender their taste, and what it costs the mood fit.

    python -m tools.taste_bench [--users 200] [--ratings 30] [--seed 1] [--json]

Each simulated user has a hidden taste: two kinds of music they like, three they dislike (genre families: "indie rock"
and "hard rock" are rock), a language they like and one they
dislike (drawn from the bundled catalog, weighted by how many songs each has), and a Telegram app language drawn
independently of that taste (the bot's language hint is then neither a help nor a cheat here). Round by round, every
user sends a selfie of a random mood, in their mode (match or lift), gets an answer from `Database.recommend` (what
the bot calls) on a real SQLite file holding the bundled catalog, and rates each song by their taste (a thumbs up
with the taste's probability) through `Database.rate`. The recommender sees those thumbs and nothing else of the
taste. The same users, with the same moods and the same random draws, are served again on a second file without
personal taste (`personal=False`: the recommender as it was before, which still drops a user's thumbed-down songs
and tilts the artists they rated).

Prints the thumbs-up rate of the answers users get after 0, 5, 10, 20 and 30 ratings, with and without personal
taste, and how far the songs sit from their slot's mood target (mean valence/energy distance) with and without.
"""

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from db import Database, Song, recommender
from db.catalog import BUNDLED_CATALOG
from db.song_csv import read_song_csv
from model.preprocess import LABELS

CHECKPOINTS = (0, 5, 10, 20, 30)  # ratings given so far
APP_LANGUAGES = {"en": 0.6, "es": 0.1, "pt": 0.1, "ru": 0.1, "de": 0.1}  # Telegram app languages of the users
# The hidden taste: a thumbs up's probability, from a base, moved by what the user likes and dislikes.
BASE, LIKED_GENRE, DISLIKED_GENRE, LIKED_LANGUAGE, DISLIKED_LANGUAGE = 0.35, 0.45, -0.3, 0.25, -0.3
LIKED_GENRES, DISLIKED_GENRES = 2, 3  # genre families each user likes, dislikes
MIN_SONGS = 8  # genres and languages with fewer songs in the catalog are nobody's taste here


@dataclass(frozen=True)
class HiddenTaste:
    """What a simulated user likes; the recommender never reads it, only the thumbs it leads to."""

    liked_genres: frozenset[str]
    disliked_genres: frozenset[str]
    liked_language: str
    disliked_language: str

    def chance_of_thumbs_up(self, song: Song) -> float:
        genre = genre_family(song.genre)
        chance = (BASE + LIKED_GENRE * (genre in self.liked_genres) + DISLIKED_GENRE * (genre in self.disliked_genres)
                  + LIKED_LANGUAGE * (song.language == self.liked_language)
                  + DISLIKED_LANGUAGE * (song.language == self.disliked_language))
        return min(max(chance, 0.02), 0.98)


@dataclass(frozen=True)
class SimulatedUser:
    user_id: int
    taste: HiddenTaste
    app_language: str
    mode: str
    seed: int  # its moods and its draws, the same in both runs


def genre_family(genre: str | None) -> str:
    """What people call the genre when they say they like or hate it: the last word ("indie rock", "synth-pop" and
    "rock" are rock; "nu metal" is metal)."""
    return re.split(r"[\s-]+", (genre or "").casefold().strip())[-1]


def simulated_users(count: int, seed: int) -> list[SimulatedUser]:
    """Users with tastes drawn from the genres and languages of the bundled catalog."""
    rng = random.Random(seed)
    songs = [row for row in read_song_csv(BUNDLED_CATALOG) if not isinstance(row, str)]
    genres = Counter(genre_family(song.genre) for song in songs if song.genre)
    languages = Counter(song.language for song in songs if song.language)
    genres = {genre: n for genre, n in genres.items() if n >= MIN_SONGS}
    languages = {language: n for language, n in languages.items() if n >= MIN_SONGS}
    users = []
    for number in range(count):
        picked_genres = _draw(rng, genres, LIKED_GENRES + DISLIKED_GENRES)
        picked_languages = _draw(rng, {language: 1 for language in languages}, 2)
        taste = HiddenTaste(frozenset(picked_genres[:LIKED_GENRES]), frozenset(picked_genres[LIKED_GENRES:]),
                            *picked_languages)
        app_language = rng.choices(list(APP_LANGUAGES), weights=list(APP_LANGUAGES.values()))[0]
        users.append(SimulatedUser(number + 1, taste, app_language, rng.choice(recommender.MODES),
                                   rng.randrange(2 ** 32)))
    return users


def _draw(rng: random.Random, weights: dict[str, float], count: int) -> list[str]:
    """`count` different keys, each drawn with its weight."""
    left, drawn = dict(weights), []
    for _ in range(count):
        key = rng.choices(list(left), weights=list(left.values()))[0]
        drawn.append(key)
        del left[key]
    return drawn


async def serve(path: Path, users: list[SimulatedUser], ratings: int, personal: bool, seed: int) -> dict:
    """Every user asks and rates, round by round, until they have given `ratings` ratings; the figures of the
    answers they got at each checkpoint."""
    ups = {checkpoint: [] for checkpoint in CHECKPOINTS if checkpoint <= ratings}
    distances = {checkpoint: [] for checkpoint in ups}
    async with await Database.open(path, seed=seed) as database:
        for user in users:
            await database.set_consent(user.user_id, True)
        given = dict.fromkeys((user.user_id for user in users), 0)
        draws = {user.user_id: random.Random(user.seed) for user in users}
        while min(given.values()) <= ratings:
            for user in users:
                rng, so_far = draws[user.user_id], given[user.user_id]
                mood = rng.choice(LABELS)
                probabilities = {label: float(label == mood) for label in LABELS}
                answer = await database.recommend(user.user_id, probabilities, user.mode,
                                                  language=user.app_language, personal=personal)
                slot_targets = recommender.targets(probabilities, mood, user.mode, len(answer))
                thumbs = [rng.random() < user.taste.chance_of_thumbs_up(s.song) for s in answer]
                if so_far in ups:
                    ups[so_far] += thumbs
                    distances[so_far] += [_distance(s.song, target) for s, target in zip(answer, slot_targets)]
                for suggestion, thumbs_up in zip(answer, thumbs):
                    await database.rate(user.user_id, suggestion.suggestion_id, thumbs_up)
                given[user.user_id] += len(answer)
    return {"thumbs_up_rate": {str(c): round(float(np.mean(v)), 4) for c, v in ups.items()},
            "mood_distance_by_ratings": {str(c): round(float(np.mean(v)), 4) for c, v in distances.items()},
            "mood_distance": round(float(np.mean([d for v in distances.values() for d in v])), 4)}


def _distance(song: Song, target: recommender.Target) -> float:
    """How far the song sits from the target's centre in valence/energy."""
    centre = sum(weight * np.array(point) for weight, point, _ in target.parts)
    return float(np.hypot(song.valence - centre[0], song.energy - centre[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.taste_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--ratings", type=int, default=30, help="ratings each user gives (default 30)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    users = simulated_users(args.users, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        runs = {arm: asyncio.run(serve(Path(folder) / f"{arm}.sqlite3", users, args.ratings, arm == "personal",
                                       args.seed))
                for arm in ("personal", "shared")}
    figures = {"users": args.users, "ratings": args.ratings, "seed": args.seed,
               **{key: {arm: run[key] for arm, run in runs.items()} for key in runs["personal"]}}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    personal, shared = figures["thumbs_up_rate"]["personal"], figures["thumbs_up_rate"]["shared"]
    print(f"{args.users} simulated users, {args.ratings} ratings each (seed {args.seed})")
    print("ratings so far   thumbs up: personal   shared   ratio")
    for checkpoint in personal:
        ratio = personal[checkpoint] / shared[checkpoint] if shared[checkpoint] else float("nan")
        print(f"{checkpoint:>14}   {personal[checkpoint]:>19.1%}   {shared[checkpoint]:>6.1%}   {ratio:5.2f}x")
    distance = figures["mood_distance"]
    print(f"Mood fit (mean valence/energy distance to the target): personal {distance['personal']:.3f}, "
          f"shared {distance['shared']:.3f} ({distance['personal'] / distance['shared'] - 1:+.1%}); "
          f"targets: >= 1.5x after 20 ratings, no more than 10% further")
    return 0


if __name__ == "__main__":
    sys.exit(main())
