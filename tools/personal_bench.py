"""How much reading each user's face as their own corrections taught (model/personal.py) helps, on photos of people.

    python -m tools.personal_bench --photos DIR [--corrections-per-user N] [--seed 7] [--model PATH] [--json]

DIR holds photos and `labels.csv` with `file,emotion,subject` (and optionally the face's box `x,y,w,h`, as for
`python -m train.evaluate --photos`; `python -m tools.subject_photos` builds such a folder). Each subject is a user
of a bot with a real database file (a new SQLite file in a temporary folder) who has consented and sends their
photos in a fixed shuffled order. Each photo goes through the real model pipeline and is read, noted and corrected
with the functions the bot uses (`Database.personal_probabilities`, `record_reading`, `record_emotion_feedback`):
the user corrects every wrong reading (only the first N with `--corrections-per-user`; the rest they let stand) and
answers when the bot says it can't tell.

Printed per subject and overall: accuracy on the photos read before the user corrected anything (the shared model),
accuracy on the later photos read without (shared) and with what was learnt (personal), and the readings the
adjustment made right and made wrong. `--json` prints one object: `users`, `users_corrected_3` (users who made 3 or
more corrections), and for those users' photos after their third correction `shared_accuracy_later`,
`personal_accuracy_later`, `made_right`, `made_wrong`; `all_readings` (made right and wrong over every photo of
every user), `uncorrected_changed` (readings changed for users who never corrected anything: 0 by design), and
`subjects`, one object per subject.
"""

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.replies import read_mood
from db import Database
from model import EmotionModel, ImageError
from model.classifier import DEFAULT_MODEL
from train.data import DataError
from train.photo_eval import annotated_box, judged_face, read_labels

LATER_FROM = 3  # "later" photos: those read after the user's third correction


@dataclass(frozen=True)
class Read:
    """One photo of a user as the bench saw it."""

    truth: str
    shared: str  # what the model alone read
    personal: str  # what the bot read for this user
    corrections_before: int  # the user's corrections before this photo
    corrected: bool  # the user corrected this reading


async def run_user(database: Database, model: EmotionModel, user_id: int, photos: list[dict], folder: Path,
                   max_corrections: int | None) -> list[Read]:
    """One user sends their photos in turn, correcting wrong readings; what each reading was."""
    await database.set_consent(user_id, True)
    reads, corrections = [], 0
    for row in photos:
        try:
            faces = model.analyze((folder / row["file"]).read_bytes())
        except ImageError:
            continue
        face = judged_face(faces, annotated_box(row))
        if face is None:
            continue
        probabilities = await database.personal_probabilities(user_id, face.probabilities, model.version)
        reading = read_mood(probabilities, face.probabilities)
        reading_id = await database.record_reading(user_id, probabilities, model.version, face.probabilities)
        corrected = reading.emotion != row["emotion"] and (max_corrections is None or corrections < max_corrections)
        reads.append(Read(row["emotion"], face.emotion, reading.emotion, corrections, corrected))
        if corrected or reading.verdict == "cant_tell":  # a correction, or the answer to "how do you feel?"
            await database.record_emotion_feedback(user_id, reading.emotion, row["emotion"], face.probabilities,
                                                   model.version, reading_id=reading_id)
            corrections += corrected
    return reads


def summary(subject: str, reads: list[Read]) -> dict:
    """A subject's figures."""
    corrections = sum(read.corrected for read in reads)
    before = [read for read in reads if read.corrections_before == 0]
    after = [read for read in reads if read.corrections_before >= 1]
    return {"subject": subject, "photos": len(reads), "corrections": corrections,
            "accuracy_before": _accuracy(before, "shared"), "photos_after_first_correction": len(after),
            "shared_accuracy_after": _accuracy(after, "shared"),
            "personal_accuracy_after": _accuracy(after, "personal"), **_changes(reads)}


def report(by_subject: dict[str, list[Read]], max_corrections: int | None) -> dict:
    subjects = [summary(subject, reads) for subject, reads in by_subject.items()]
    corrected_3 = [by_subject[s["subject"]] for s in subjects if s["corrections"] >= LATER_FROM]
    later = [read for reads in corrected_3 for read in reads if read.corrections_before >= LATER_FROM]
    every = [read for reads in by_subject.values() for read in reads]
    uncorrected = [read for s in subjects if s["corrections"] == 0 for read in by_subject[s["subject"]]]
    return {"photos": len(every), "users": len(subjects), "corrections_per_user": max_corrections,
            "users_corrected_3": len(corrected_3), "photos_later": len(later),
            "shared_accuracy_later": _accuracy(later, "shared"),
            "personal_accuracy_later": _accuracy(later, "personal"), **_changes(later),
            "all_readings": {"shared_accuracy": _accuracy(every, "shared"),
                             "personal_accuracy": _accuracy(every, "personal"), **_changes(every)},
            "uncorrected_changed": sum(read.personal != read.shared for read in uncorrected),
            "subjects": subjects}


def _accuracy(reads: list[Read], which: str) -> float | None:
    return round(float(np.mean([getattr(read, which) == read.truth for read in reads])), 4) if reads else None


def _changes(reads: list[Read]) -> dict:
    return {"made_right": sum(read.personal == read.truth != read.shared for read in reads),
            "made_wrong": sum(read.shared == read.truth != read.personal for read in reads)}


async def bench(folder: Path, model: EmotionModel, max_corrections: int | None, seed: int) -> dict:
    rows = read_labels(folder)
    if "subject" not in rows[0]:
        raise DataError(f"{folder / 'labels.csv'}: a subject column is needed (file,emotion,subject)")
    by_subject: dict[str, list[dict]] = {}
    for row in rows:
        by_subject.setdefault(row["subject"], []).append(row)
    rng = np.random.default_rng(seed)
    reads = {}
    with tempfile.TemporaryDirectory(prefix="personal-bench-") as scratch:
        async with await Database.open(Path(scratch) / "bench.sqlite3") as database:
            for user_id, (subject, photos) in enumerate(sorted(by_subject.items()), start=1):
                order = [photos[i] for i in rng.permutation(len(photos))]
                reads[subject] = await run_user(database, model, user_id, order, folder, max_corrections)
    return report(reads, max_corrections)


def print_report(figures: dict) -> None:
    print(f"{'subject':32} photos corrections before | after 1st: shared personal | made right wrong")
    for s in figures["subjects"]:
        print(f"{s['subject'][:32]:32} {s['photos']:6} {s['corrections']:11} {_percent(s['accuracy_before'])} | "
              f"          {_percent(s['shared_accuracy_after'])}   {_percent(s['personal_accuracy_after'])} | "
              f"          {s['made_right']:5} {s['made_wrong']:5}")
    every = figures["all_readings"]
    print(f"\n{figures['users']} users, {figures['photos']} photos: shared {_percent(every['shared_accuracy'])}, "
          f"personal {_percent(every['personal_accuracy'])}; made right {every['made_right']}, "
          f"made wrong {every['made_wrong']}")
    print(f"{figures['users_corrected_3']} users with 3 or more corrections, {figures['photos_later']} photos after "
          f"the third: shared {_percent(figures['shared_accuracy_later'])}, personal "
          f"{_percent(figures['personal_accuracy_later'])}; made right {figures['made_right']}, made wrong "
          f"{figures['made_wrong']}")
    print(f"readings changed for users who corrected nothing: {figures['uncorrected_changed']}")


def _percent(value: float | None) -> str:
    return "  -   " if value is None else f"{value:6.1%}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.personal_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, type=Path, help="folder with photos and labels.csv")
    parser.add_argument("--corrections-per-user", type=int, default=None,
                        help="a user corrects at most this many wrong readings (default: every one)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=7, help="the order in which each user sends their photos")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        figures = asyncio.run(bench(args.photos, EmotionModel.load(args.model), args.corrections_per_user, args.seed))
    except (DataError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
