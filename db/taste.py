"""A user's taste, learnt from their own thumbs (no SQL: `db.database` feeds it the ratings).

What the catalog knows about a song is turned into a few *features*: its genre, the genre's family (the last word:
"hard rock" and "rock" are rock, "synth-pop" is pop), its language, its era (decade) and its energy (low, mid, high).
A user's taste is a weight per feature: how much more (or less) they like songs that have it than everyone does,
in log-odds, fitted to their thumbs on top of everyone's (`taste`), and held near everyone's taste (a weight of 0)
while they have rated little. A song's taste is the sum of its features' weights; the recommender lets it decide
among the songs that fit the mood (`db.recommender.choose`).

The user's language (chosen with /language, else their Telegram app's) starts their taste with a lean towards songs
in it (`LANGUAGE_HINT`), which their thumbs outweigh. A user with no ratings has no taste: they get the same answers
as without any of this. Nothing here is stored: it is worked out from the ratings for each answer, so it goes with
them (retention, /forget).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from db.recommender import CatalogIndex

PRIOR_SPREAD = 1.2  # log-odds: how far a feature's weight may stray from everyone's taste before any thumbs
INTERCEPT_SPREAD = 3.0  # log-odds: how much more or less generous than everyone a rater may be
NEWTON_STEPS = 8  # the regression converges in a handful
LANGUAGE_HINT = 0.5  # log-odds added to songs in the user's own language until their thumbs say otherwise
TASTE_WEIGHT = 0.5  # fit added per log-odds of taste (a song's fit runs from about 0 to 1 + TAG_BONUS)
MAX_TASTE = 1.0  # log-odds: however strong a taste, it never outweighs the mood by more than this
ARTIST_TASTE_WEIGHT = 0.2  # how much a user's own ratings of an artist tilt its songs for them
KINDS = ("genre", "family", "language", "era", "energy")
OLDEST_ERA = 1950  # songs older than this share one era
ENERGY_BINS = (0.35, 0.65)  # low below, high from


def song_features(genre: str | None, language: str | None, year: int | None, energy: float) -> tuple:
    """The song's feature of each kind (None where the catalog does not say)."""
    genre = " ".join(genre.casefold().split()) if genre else None
    family = re.split(r"[ -]", genre)[-1] if genre else None
    era = None if not year else "older" if year < OLDEST_ERA else f"{year // 10 * 10}s"
    level = ("low", "mid", "high")[int(np.searchsorted(ENERGY_BINS, energy, side="right"))]
    return genre, family, (language or "").casefold() or None, era, level


def feature_codes(features: Sequence[tuple]) -> tuple[dict[tuple[str, str], int], np.ndarray]:
    """A number for each (kind, value) the songs have, and each song's numbers as an (N, len(KINDS)) array in which
    a missing feature is the extra number len(vocabulary)."""
    vocabulary: dict[tuple[str, str], int] = {}
    keys = [[None if value is None else vocabulary.setdefault((kind, value), len(vocabulary))
             for kind, value in zip(KINDS, song)] for song in features]
    codes = np.array([[len(vocabulary) if code is None else code for code in song] for song in keys],
                     dtype=np.int32).reshape(-1, len(KINDS))
    return vocabulary, codes


@dataclass(frozen=True)
class Thumbs:
    """Thumbs up and down per feature (`per_feature`, (len(vocabulary) + 1, 2)) and in all (`total`: a rating
    counts once however many features its song has)."""

    per_feature: np.ndarray
    total: tuple[float, float]

    @classmethod
    def of(cls, index: "CatalogIndex", rows: np.ndarray, ups: np.ndarray, downs: np.ndarray) -> "Thumbs":
        """The thumbs of the songs at catalog `rows` (each song's ups and downs)."""
        per_feature = thumbs_per_feature(index.features[rows], len(index.vocabulary), ups, downs)
        return cls(per_feature, (float(np.sum(ups)), float(np.sum(downs))))


def user_taste(index: "CatalogIndex", pool: np.ndarray, rated_rows: np.ndarray, thumbs_up: np.ndarray,
               everyone: Thumbs, language: str | None, personal: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """What the user's own taste adds to the fit of each `pool` song, from their ratings (`thumbs_up`, 1 or 0, of
    the songs at `rated_rows`): for its artist, and (with `personal`; zeros without) for its features."""
    artists = artist_taste(index.artists[rated_rows], thumbs_up)
    for_artist = ARTIST_TASTE_WEIGHT * np.array([artists.get(artist, 0.0) for artist in index.artists[pool]])
    if not personal or not len(rated_rows):
        return for_artist, np.zeros(len(pool))
    scores = taste(index.features[rated_rows], thumbs_up, everyone,
                   index.vocabulary.get(("language", (language or "").casefold())))
    return for_artist, taste_bonus(index.features[pool], scores)


def thumbs_per_feature(codes: np.ndarray, size: int, ups: np.ndarray, downs: np.ndarray) -> np.ndarray:
    """(size + 1, 2) thumbs up and down per feature, from the thumbs of the songs whose `codes` are given."""
    counts = np.zeros((size + 1, 2), dtype=np.float64)
    for column in codes.T:
        counts[:, 0] += np.bincount(column, weights=ups, minlength=size + 1)
        counts[:, 1] += np.bincount(column, weights=downs, minlength=size + 1)
    return counts


def taste(codes: np.ndarray, thumbs_up: np.ndarray, everyone: Thumbs, hinted: int | None = None) -> np.ndarray:
    """Log-odds per feature (the last entry, a missing feature, is 0) of how much more the user likes songs with it
    than everyone does, from their ratings (`thumbs_up`, 1 or 0, of songs with these `codes`); `hinted` is the
    feature of the user's language. Zero everywhere for a user with no ratings.

    A logistic regression on the user's own thumbs, on top of everyone's taste (each song's odds as the pooled thumbs
    of its features say), with a prior that keeps each feature's weight near 0 (near `LANGUAGE_HINT` for their
    language) until their thumbs say otherwise, and a free intercept (how generous a rater they are), so that a
    feature every rated song had says nothing, and genre, family and era share the credit instead of each taking it.
    """
    size = len(everyone.per_feature) - 1
    weights = np.zeros(size + 1)
    if not len(thumbs_up):
        return weights
    if hinted is not None:
        weights[hinted] = LANGUAGE_HINT
    everyone_rate = _rate(*everyone.total)
    lean = _logit((everyone.per_feature[:, 0] + 1) / (everyone.per_feature.sum(axis=1) + 2)) - _logit(everyone_rate)
    lean[-1] = 0.0
    offset = _logit(everyone_rate) + lean[codes].sum(axis=1)
    seen = np.unique(codes[codes < size])
    design = np.zeros((len(codes), len(seen) + 1))
    for column in codes.T:
        present = column < size
        design[np.flatnonzero(present), np.searchsorted(seen, column[present])] = 1.0
    design[:, -1] = 1.0  # the intercept
    prior = np.append(weights[seen], 0.0)
    precision = np.append(np.full(len(seen), PRIOR_SPREAD ** -2), INTERCEPT_SPREAD ** -2)
    fitted = prior.copy()
    for _ in range(NEWTON_STEPS):
        chance = _sigmoid(offset + design @ fitted)
        gradient = design.T @ (chance - thumbs_up) + precision * (fitted - prior)
        hessian = (design.T * (chance * (1 - chance))) @ design + np.diag(precision)
        fitted -= np.linalg.solve(hessian, gradient)
    weights[seen] = fitted[:-1]
    return weights


def taste_bonus(codes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """What taste adds to the fit of songs with these `codes`."""
    return TASTE_WEIGHT * np.clip(scores[codes].sum(axis=1), -MAX_TASTE, MAX_TASTE)


def artist_taste(artists: np.ndarray, thumbs_up: np.ndarray) -> dict[str, float]:
    """-1..1 per artist the user rated: (ups - downs) / (ratings + 1)."""
    taste: dict[str, list[int]] = {}
    for artist, up in zip(artists, thumbs_up):
        counts = taste.setdefault(artist, [0, 0])
        counts[0] += int(up)
        counts[1] += 1
    return {artist: (2 * ups - n) / (n + 1) for artist, (ups, n) in taste.items()}


def _rate(ups: float, downs: float) -> float:
    return (ups + 1) / (ups + downs + 2)


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))
