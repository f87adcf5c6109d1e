"""Which songs to suggest for a mood: the maths, with no SQL (`db.database` feeds it and records the result).

Every song sits at a point (valence, energy) of Russell's circumplex, and so does every emotion. A song *fits* a
target point the closer it is (a Gaussian of the distance) and the more it is tagged with the emotion there.

- *match*: one target per plausible emotion, weighted by its probability, so an unsure 50/50 sad-or-neutral face
  gets songs that suit both rather than the top class alone.
- *lift*: music therapy's iso principle. The first song meets the mood where it is (like *match*), the next ones
  move step by step along a path towards a better place: sad -> tender-hopeful -> upbeat, angry -> calmer ->
  warm, fear -> soothing -> reassuring.

Songs rated by users rise or sink by Thompson sampling: each (song, emotion) has a Beta posterior of its
thumbs-up rate, and every answer draws from it, so a new song with no ratings still gets its chance against
a well-rated one, and a song many people thumbed down for `sad` sinks for `sad` only. The user's own taste
(`db.taste`: the artists, genres, languages, eras and energy they thumbed up or down) then decides among the songs
that fit. One song per artist in an answer.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from db import taste
from model.preprocess import LABELS

POINTS = {  # (valence, energy) of each emotion
    "angry": (0.25, 0.85), "disgust": (0.30, 0.65), "fear": (0.20, 0.65), "happy": (0.85, 0.75),
    "sad": (0.20, 0.25), "surprise": (0.70, 0.85), "neutral": (0.50, 0.40),
}
LIFT_PATHS = {  # from the mood to where lift mode leads it, through the points in between
    "angry": ((0.25, 0.85), (0.40, 0.60), (0.65, 0.45)),
    "disgust": ((0.30, 0.65), (0.50, 0.55), (0.80, 0.65)),
    "fear": ((0.20, 0.65), (0.40, 0.40), (0.70, 0.35)),
    "happy": ((0.85, 0.75), (0.90, 0.80)),
    "sad": ((0.20, 0.25), (0.45, 0.35), (0.75, 0.65)),
    "surprise": ((0.70, 0.85), (0.85, 0.70)),
    "neutral": ((0.50, 0.40), (0.65, 0.55), (0.80, 0.70)),
}
MODES = ("match", "lift")
ANSWER_SIZE = 5  # songs in an answer
SPREAD = 0.15  # how far (in valence/energy) a song may sit from a target and still fit it well
TAG_BONUS = 0.5  # fit added when the song is tagged with the target's emotion (a curated judgement)
MIN_PROBABILITY = 0.05  # emotions less likely than this do not steer the songs
POOL_PER_TARGET = 150  # best-fitting songs per target that the rating and diversity steps choose from
PRIOR_UPS, PRIOR_DOWNS = 2.0, 2.0  # Beta prior of a song's thumbs-up rate: 50%, worth four ratings
RATING_WEIGHT = 0.6  # how much a song's (sampled) thumbs-up rate can outweigh fit
TASTE_FIT_MARGIN = 0.25  # taste picks among the songs whose fit is at most this below the best one's


@dataclass(frozen=True)
class CatalogIndex:
    """The catalog as arrays, for scoring every song at once (200,000 songs in a few milliseconds)."""

    song_ids: np.ndarray  # int64
    points: np.ndarray  # (N, 2) float32 valence, energy
    mood_bits: np.ndarray  # uint8, bit i set when the song is tagged with LABELS[i]
    artists: np.ndarray  # folded artist names (object)
    features: np.ndarray  # (N, len(taste.KINDS)) int32: each song's features, numbered in `vocabulary`
    vocabulary: dict = field(compare=False, repr=False)  # (kind, value) -> number; len(vocabulary): missing
    pools: dict = field(default_factory=dict, compare=False, repr=False)  # single-point target -> best rows

    @classmethod
    def from_rows(cls, rows: Sequence[tuple]) -> "CatalogIndex":
        """From (song_id, valence, energy, space-separated moods, artist key, genre, language, year) rows."""
        bits = {label: 1 << i for i, label in enumerate(LABELS)}
        vocabulary, features = taste.feature_codes([taste.song_features(row[5], row[6], row[7], row[2])
                                                    for row in rows])
        return cls(
            song_ids=np.array([row[0] for row in rows], dtype=np.int64),
            points=np.array([(row[1], row[2]) for row in rows], dtype=np.float32).reshape(-1, 2),
            mood_bits=np.array([sum(bits.get(m, 0) for m in row[3].split()) for row in rows], dtype=np.uint8),
            artists=np.array([row[4] for row in rows], dtype=object),
            features=features, vocabulary=vocabulary,
        )

    def __len__(self) -> int:
        return len(self.song_ids)

    def rows_of(self, song_ids: Sequence[int]) -> np.ndarray:
        """Row numbers of the given songs (those still in the catalog); rows are in song_id order."""
        ids = np.asarray(song_ids, dtype=np.int64)
        rows = np.clip(np.searchsorted(self.song_ids, ids), 0, max(len(self.song_ids) - 1, 0))
        return rows[self.song_ids[rows] == ids] if len(self.song_ids) else np.zeros(0, dtype=np.int64)

    def fits_emotion(self, emotion: str, radius: float = 2 * SPREAD) -> np.ndarray:
        """Which songs suit `emotion`: tagged with it, or close to its point."""
        tagged = (self.mood_bits & (1 << LABELS.index(emotion))) != 0
        near = np.linalg.norm(self.points - np.array(POINTS[emotion], np.float32), axis=1) <= radius
        return tagged | near


@dataclass(frozen=True)
class Target:
    """What one slot of an answer is looking for: weighted (point, emotion tag) parts."""

    parts: tuple[tuple[float, tuple[float, float], str], ...]  # (weight, (valence, energy), emotion)


def targets(probabilities: Mapping[str, float], emotion: str, mode: str, n: int) -> list[Target]:
    """One target per song of the answer; `emotion` is the mood the answer is for (top or corrected)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    likely = {e: p for e, p in probabilities.items() if p >= MIN_PROBABILITY and e in POINTS} or {emotion: 1.0}
    total = sum(likely.values())
    mood = Target(tuple((p / total, POINTS[e], e) for e, p in sorted(likely.items(), key=lambda item: -item[1])))
    if mode == "match" or n == 1:
        return [mood] * n
    path = np.array(LIFT_PATHS[emotion], dtype=np.float64)
    steps = [mood]
    for fraction in np.linspace(0, 1, n)[1:]:
        point = tuple(float(v) for v in _along(path, fraction))
        steps.append(Target(((1.0, point, _nearest_emotion(point)),)))
    return steps


def fit(index: CatalogIndex, target: Target, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """How well each song (of `rows`) fits the target: about 0 (far, untagged) to 1 + TAG_BONUS."""
    points, bits = index.points[rows], index.mood_bits[rows]
    score = np.zeros(len(points), dtype=np.float32)
    for weight, point, emotion in target.parts:
        distance2 = _squared_distances(points, point)
        tagged = (bits & (1 << LABELS.index(emotion))) != 0
        score += weight * (np.exp(-distance2 / (2 * SPREAD ** 2)) + TAG_BONUS * tagged)
    return score


def candidate_pool(index: CatalogIndex, slot_targets: Sequence[Target], liked_rows: np.ndarray,
                   per_target: int = POOL_PER_TARGET) -> np.ndarray:
    """Row numbers of the songs worth scoring: the best fits for each part of each target, the songs nearest each
    mixed target's centre (which may lie between two emotions), and the songs users liked most for the emotion
    (so a well-liked song that fits a little less can still win on its ratings).

    Single-point pools depend only on the catalog and the point, so they are computed once per catalog: an answer
    then scores about a thousand songs, not the whole catalog.
    """
    pool = [liked_rows.astype(np.int64)]
    for target in dict.fromkeys(slot_targets):
        for part in target.parts:
            single = Target(((1.0, part[1], part[2]),))
            if single not in index.pools:
                index.pools[single] = _best_rows(fit(index, single), per_target)
            pool.append(index.pools[single])
        if len(target.parts) > 1:
            centre = sum(weight * np.array(point, np.float32) for weight, point, _ in target.parts)
            pool.append(_best_rows(-_squared_distances(index.points, centre), per_target))
    return np.unique(np.concatenate(pool))


def prepare_pools(index: CatalogIndex, n: int = ANSWER_SIZE) -> None:
    """Compute every single-point pool an answer of `n` songs can need (each emotion's point, each step of each
    lift path) now, when the catalog is read, so that no user's answer waits for them."""
    for emotion in LABELS:
        candidate_pool(index, targets({emotion: 1.0}, emotion, "lift", n), np.zeros(0, dtype=np.int64))


def _squared_distances(points: np.ndarray, point) -> np.ndarray:
    # Column by column: numpy sums over a short last axis several times slower than it subtracts and multiplies.
    valence, energy = points[:, 0] - np.float32(point[0]), points[:, 1] - np.float32(point[1])
    return valence * valence + energy * energy


def _best_rows(scores: np.ndarray, count: int) -> np.ndarray:
    return np.argpartition(-scores, count)[:count] if len(scores) > count else np.arange(len(scores))


def choose(index: CatalogIndex, pool: np.ndarray, slot_targets: Sequence[Target], ratings: np.ndarray,
           own_taste: tuple[np.ndarray, np.ndarray], excluded: set[int], recent: set[int],
           rng: np.random.Generator) -> list[int]:
    """Song ids for the slots, in order: best fit plus sampled rating plus the user's taste, one per artist, nothing
    excluded.

    `ratings` is (len(pool), 2) thumbs up and down of each pool song for the answer's emotion. `own_taste` is what
    the user's taste adds to each pool song's fit (`db.taste.user_taste`): for its artist, and for its features. The
    mood decides what fits, taste decides among those: a song is lowered by how much less the user likes it than the
    best-liked of the songs that fit the slot nearly as well as the best one (within `TASTE_FIT_MARGIN`), or than a
    song they have no opinion of if they like none of those, by at most that margin (so a disliked song never gives
    way to one that fits worse by more), and never raised (a liked song that fits badly gains nothing). `excluded` songs
    (the user's thumbs-down) are never chosen; `recent` ones (the user's last suggestions) only when the pool
    has nothing else, and so is a second song by the same artist.
    """
    sampled_rate = rng.beta(PRIOR_UPS + ratings[:, 0], PRIOR_DOWNS + ratings[:, 1])
    artist_taste, song_taste = own_taste
    bonus = RATING_WEIGHT * (sampled_rate - PRIOR_UPS / (PRIOR_UPS + PRIOR_DOWNS)) + artist_taste
    song_ids = index.song_ids[pool]
    allowed = ~np.isin(song_ids, np.fromiter(excluded, dtype=np.int64, count=len(excluded)))
    fresh = ~np.isin(song_ids, np.fromiter(recent, dtype=np.int64, count=len(recent)))
    chosen_rows: list[int] = []
    artists_used: set[str] = set()

    def scores_for(target: Target) -> np.ndarray:
        fits = fit(index, target, pool)
        usable = allowed & fresh
        best = fits[usable].max() if usable.any() else fits.max(initial=0.0)
        fitting = usable & (fits >= best - TASTE_FIT_MARGIN)
        best_liked = song_taste[fitting].max(initial=0.0)  # at least a song they have no opinion of
        return fits + bonus + np.clip(song_taste - best_liked, -TASTE_FIT_MARGIN, 0.0)

    scores_by_target = {target: scores_for(target) for target in dict.fromkeys(slot_targets)}
    for target in slot_targets:
        scores = scores_by_target[target]
        new_artist = np.array([artist not in artists_used for artist in index.artists[pool]], dtype=bool)
        taken = np.isin(np.arange(len(pool)), chosen_rows)
        for usable in (allowed & fresh & new_artist, allowed & new_artist, allowed):
            candidates = np.flatnonzero(usable & ~taken)
            if len(candidates):
                best = int(candidates[np.argmax(scores[candidates])])
                chosen_rows.append(best)
                artists_used.add(index.artists[pool[best]])
                break
    return [int(song_ids[row]) for row in chosen_rows]


def _along(path: np.ndarray, fraction: float) -> np.ndarray:
    """The point at `fraction` (0..1) of the way along a polyline."""
    lengths = np.linalg.norm(np.diff(path, axis=0), axis=1)
    distance = fraction * lengths.sum()
    for i, length in enumerate(lengths):
        if distance <= length or i == len(lengths) - 1:
            share = min(distance / length, 1.0) if length else 0.0
            return path[i] + share * (path[i + 1] - path[i])
        distance -= length
    return path[-1]


def _nearest_emotion(point: tuple[float, float]) -> str:
    return min(POINTS, key=lambda e: (POINTS[e][0] - point[0]) ** 2 + (POINTS[e][1] - point[1]) ** 2)
