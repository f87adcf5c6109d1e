"""A one-page report on how fairly the emotion model treats each emotion, in the lab, on whole photos and in
production.

    python -m train.report --db data/moodtunes.sqlite3 --data ../shared/data/fer2013/fer2013_train_publictest.csv.gz \
                           --out reports/ [--photos DIR ...]

Writes `<out>/report.html`, one self-contained page (its figures are PNGs embedded in it) that can be mailed or
attached to an issue. Written for readers who are not ML engineers: under every figure, how to read it and what it
shows. Lab figures (per-class precision and recall with 95% intervals, confusion matrix, calibration, baselines)
come from the model run through LiteRT on FER2013 (`--usage`, PublicTest by default), judged against the FER+ crowd
majority (`--labels`, and FER2013's own labels beside it); whole-photo figures (`--photos`, any folder
`python -m train.evaluate --photos` reads) add detection and per-group figures; production figures (which emotions
the bot reports, how often users correct it, how often they like the songs) come from the database's aggregate
`stats()`, never from individual users; photos read and corrections are those of the reported model's version.
An empty database gives a page that says so.

Modules: this one gathers the figures and words the sections; `train.report_figures` draws, `train.report_page`
lays out the HTML.
"""

import argparse
import asyncio
import io
import json
import math
import sys
from pathlib import Path

import numpy as np

from db import Database
from db.engine import parse_address
from model import EmotionModel
from model.preprocess import LABELS
from train import evaluate, photo_eval
from train.data import FERPLUS_COLUMN_OF_LABEL, LABEL_SOURCES, DataError, FaceSet, default_votes_path, load_faces
from train.metrics import reliability
from train.report_figures import bar_chart, data_uri, reliability_chart
from train.report_page import page, percent, section, table

REPORT_FILE = "report.html"
FEW = 20  # the page warns that a rate from fewer photos or ratings than this is mostly chance
NO_PRODUCTION_DATA = "No production data yet: the bot has not read any photos with this database."


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.report", description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=parse_address,
                        help="the bot's database: its SQLite file, or a postgresql:// URL")
    parser.add_argument("--data", required=True, help="FER2013 CSV (plain or .gz) or folder with train/ and test/")
    parser.add_argument("--out", required=True, type=Path, help=f"folder for {REPORT_FILE}")
    parser.add_argument("--model", type=Path, default=evaluate.DEFAULT_MODEL)
    parser.add_argument("--usage", default="PublicTest", help="FER2013 split to test the model on")
    parser.add_argument("--labels", choices=LABEL_SOURCES,
                        help="judge against the FER+ crowd majority (default, when its votes are beside --data) "
                             "or FER2013's labels")
    parser.add_argument("--votes", help="FER+ votes CSV (default: ferplus_votes_train_publictest.csv.gz beside --data)")
    parser.add_argument("--photos", type=Path, action="append", default=[],
                        help="a folder of photos with labels.csv (see train.evaluate --photos); may be repeated")
    parser.add_argument("--train-usage", default="Training", help="FER2013 split whose label shares are shown")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        model = EmotionModel.load(args.model)
        lab = lab_figures(args, model.version)
        photos = [(folder, photo_eval.evaluate_photos(model, folder)) for folder in args.photos]
        stats = asyncio.run(production_stats(args.db, lab["version"]))
        training = load_faces(args.data, lab["labels"], args.votes)
    except (DataError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    training_faces = (training.split(args.train_usage) if args.train_usage in set(training.usage.tolist())
                      else training).labelled()
    report = lab["report"]
    sections = [
        recognition_section(report),
        labels_section(lab),
        confusion_section(report),
        calibration_section(report, lab["truth"], lab["probabilities"], lab["fitted_on"]),
        *(photos_section(folder, figures) for folder, figures in photos),
        shares_section(stats["readings"], training_faces),
        corrections_section(stats["readings"], stats["corrections"]),
        thumbs_section(stats["ratings"]),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / REPORT_FILE
    path.write_text(page(lab["version"], report, stats, sections), encoding="utf-8")
    print(f"wrote {path} (model {lab['version']}, {report['n']} test faces, {len(photos)} photo set(s), "
          f"{sum(stats['readings'].values())} photos read in production)")
    return 0


def lab_figures(args, version: str) -> dict:
    """The model on the test split: its report against the chosen labels, both label sets' headline figures, the
    probabilities and labels behind the calibration figure, and the agreement baselines."""
    votes_there = Path(args.votes).is_file() if args.votes else default_votes_path(args.data).is_file()
    labels = args.labels or ("ferplus" if votes_there else "fer2013")
    by_source, probabilities, votes = evaluate.read_data(args.model, args.data, args.usage, args.votes,
                                                         need_crowd=labels == "ferplus")
    reports = {name: {**evaluate.judged_report(truth, probabilities), "usage": args.usage}
               for name, truth in by_source.items()}
    truth = by_source[labels]
    judged = truth >= 0
    metadata_path = Path(args.model).with_suffix(".json")
    metadata = json.loads(metadata_path.read_text()) if metadata_path.is_file() else {}
    return {
        "version": version, "labels": labels, "report": reports[labels],
        "by_labels": reports, "truth": truth[judged], "probabilities": probabilities[judged],
        "fitted_on": metadata.get("training_data", {}).get("validation_split"),
        "baselines": baselines(by_source, votes, labels),
    }


def baselines(by_source: dict[str, np.ndarray], votes: np.ndarray | None, labels: str) -> dict:
    """What to compare the accuracy with: always answering the most common emotion, and how far people agree."""
    truth = by_source[labels][by_source[labels] >= 0]
    figures = {"majority_class": LABELS[int(np.bincount(truth, minlength=len(LABELS)).argmax())],
               "majority_class_accuracy": float(np.bincount(truth).max() / max(len(truth), 1))}
    if votes is not None:
        crowd = by_source["ferplus"]
        judged = crowd >= 0
        columns = FERPLUS_COLUMN_OF_LABEL[crowd[judged]]
        figures["tagger_agreement"] = float(np.mean(votes[judged, columns] / votes[judged].sum(axis=1)))
        figures["fer2013_agrees_with_crowd"] = float(np.mean(by_source["fer2013"][judged] == crowd[judged]))
    return figures


async def production_stats(db_path: str | Path, model_version: str) -> dict:
    """Ratings of every version; photos read and corrections of this model's version only."""
    async with await Database.open(db_path, create=False) as database:
        return await database.stats(model_version=model_version)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% confidence interval of a rate from n trials (Wilson score): honest for small classes and rates near 0/1."""
    if n == 0:
        return None
    rate = successes / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def interval(successes: int, n: int) -> str:
    bounds = wilson_interval(successes, n)
    return "—" if bounds is None else f"{bounds[0]:.0%}–{bounds[1]:.0%}"


# ----- sections: a figure, how to read it, what it shows -----

def recognition_section(report: dict) -> str:
    rows = report["per_class"]
    said = np.array(report["confusion_matrix"]).sum(axis=0)
    # Undefined, not zero: recall of an emotion no test face shows, precision of one the model never said.
    recall = [rows[e]["recall"] if rows[e]["support"] else None for e in LABELS]
    precision = [rows[e]["precision"] if said[i] else None for i, e in enumerate(LABELS)]
    tested = [e for e in LABELS if rows[e]["support"]]
    best, worst = max(tested, key=lambda e: rows[e]["recall"]), min(tested, key=lambda e: rows[e]["recall"])
    return section(
        "How well does it recognise each emotion?", bar_chart({"precision": precision, "recall": recall}, "share"),
        "Recall: of the test faces that really show an emotion, the share the model named correctly. Precision: of "
        "the faces the model gave that name, the share that really showed it. Higher is better; an emotion with "
        "much lower bars than the others is one the bot serves worse. A missing bar means there was nothing to "
        "count (no test face shows that emotion, or the model never named it). The 95% interval says how far the "
        "recall could be from this figure by the luck of which faces were tested: wide for rare emotions.",
        f"Overall {report['accuracy']:.0%} of {report['n']} test faces are named correctly. It recognises "
        f"{best} best (recall {rows[best]['recall']:.0%}) and {worst} worst (recall {rows[worst]['recall']:.0%}).",
        table(["emotion", "precision", "recall", "recall, 95% interval", "test faces"],
              [[e, percent(precision[i]), percent(recall[i]),
                interval(report["confusion_matrix"][i][i], rows[e]["support"]), rows[e]["support"]]
               for i, e in enumerate(LABELS)]))


def labels_section(lab: dict) -> str:
    names = {"ferplus": "FER+ crowd majority (10 taggers)", "fer2013": "FER2013's single label"}
    figures = lab["baselines"]
    rows = [[names[name], percent(report["accuracy"]), report["n"],
             sum(report["set_aside"].values())] for name, report in lab["by_labels"].items()]
    facts = [f"Always answering {figures['majority_class']}, the most common emotion of these faces, would be right "
             f"{figures['majority_class_accuracy']:.0%} of the time; the model is right "
             f"{lab['report']['accuracy']:.0%} of the time against the {names[lab['labels']]}."]
    if "tagger_agreement" in figures:
        facts.append(f"People disagree too: on average {figures['tagger_agreement']:.0%} of the ten taggers chose "
                     f"the crowd's majority emotion, and FER2013's own label agrees with the crowd on "
                     f"{figures['fer2013_agrees_with_crowd']:.0%} of the faces.")
    return section(
        "Compared with what?", None,
        "A face's 'true' emotion is what people say it shows, and people disagree. FER2013 gave each face one "
        "label; FER+ asked ten taggers per face, and the crowd's majority is the fairer judge. Faces where the "
        "crowd ties, or mostly says contempt, unknown or not a face, cannot be judged and are set aside.",
        " ".join(facts),
        table(["judged against", "accuracy", "faces judged", "set aside"], rows))


def confusion_section(report: dict) -> str:
    buffer = io.BytesIO()
    evaluate.plot_confusion(report, buffer)
    counts = np.array(report["confusion_matrix"], dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    np.fill_diagonal(shares, 0)
    true, said = np.unravel_index(np.argmax(shares), shares.shape)
    worst_mix_up = (f"The most common mistake: {shares[true, said]:.0%} of {LABELS[true]} faces are read as "
                    f"{LABELS[said]}." if shares[true, said] else "It made no mistakes on these faces.")
    return section(
        "Which emotions does it mix up?", data_uri(buffer.getvalue()),
        "Each row is the emotion a face really shows, each column what the model said; each row adds up to 100%. "
        "The diagonal holds the correct answers, everything off it is a mistake.", worst_mix_up)


def calibration_section(report: dict, labels: np.ndarray, probabilities: np.ndarray, fitted_on: str | None) -> str:
    counts, confidence, accuracy = reliability(labels, probabilities)
    over = float(np.sum(counts * (confidence - accuracy)) / max(counts.sum(), 1))
    leaning = "over-confident (it claims more than it delivers)" if over > 0 else "under-confident (modest)"
    fitted = (f"The confidence was tuned (one temperature) on {fitted_on}; these test faces ({report['usage']}) "
              f"played no part in it, so this is a fair check." if fitted_on else
              "The model's metadata does not say where its confidence was tuned: if it was on these same faces, "
              "this figure flatters it.")
    return section(
        "Can its confidence be trusted?", reliability_chart(counts, confidence, accuracy),
        "When the model says it is 70% sure, it should be right about 70% of the time. Each bar groups the answers "
        "given with about the same confidence and shows how often they were right; bars on the dashed line are "
        "honest, bars below it over-confident; n is how many answers a bar stands for. " + fitted,
        f"Expected calibration error (ECE) {report['ece']:.3f}: the stated confidence is off by about "
        f"{report['ece'] * 100:.0f} percentage points on average, and the model leans {leaning}.")


def photos_section(folder: Path, figures: dict) -> str:
    crops = figures["crops"]
    versus = (f" The same faces as tight crops are read right {crops['accuracy']:.0%} of the time, so finding and "
              f"cutting out the face costs {(crops['accuracy'] - figures['accuracy']) * 100:+.0f} points."
              if crops else "")
    rows = []
    for column, values in figures["groups"].items():
        for value, group in values.items():
            favoured = max(group["prediction_rate"], key=group["prediction_rate"].get)
            rows.append([f"{column} = {value}", group["photos"], percent(group["face_found"]),
                         percent(group["accuracy"]), f"{favoured} {group['prediction_rate'][favoured]:.0%}"])
    return section(
        f"Whole photos: {folder.name}", bar_chart({"recall": [figures["recall"][e] for e in LABELS],
                                                   "predicted": [figures["prediction_rate"][e] for e in LABELS]},
                                                  "share"),
        "The whole pipeline the bot runs (find the face, cut it out, read it) on photos with a known emotion. "
        "Recall: of the photos showing an emotion, the share read right. Predicted: how often the bot gave each "
        "answer; an emotion predicted far more often than it occurs is favoured. The table splits the photos by "
        "each group the set records: an emotion favoured within one group is a bias worth fixing.",
        f"{figures['photos']} photos: a face was found in {figures['face_found']:.0%}, and read right in "
        f"{figures['accuracy']:.0%} of those (balanced over emotions {figures['balanced_accuracy']:.0%}).{versus}",
        table(["group", "photos", "face found", "accuracy", "most predicted"], rows) if rows else "")


def shares_section(readings: dict[str, int], training_faces: FaceSet) -> str:
    total = sum(readings.values())
    learned = training_faces.class_counts()
    learned_share = [learned[e] / max(len(training_faces), 1) for e in LABELS]
    how = ("For each emotion: the share of photos the bot read as showing it (production), beside its share among "
           "the training faces the model learned from. Differences are expected, as people choose which selfies to "
           "send, but an emotion the bot almost never reports may be one it fails to see.")
    if not total:
        figure = bar_chart({"training": learned_share}, "share")
        return section("Which emotions does it report in production?", figure, how, NO_PRODUCTION_DATA)
    production = [readings[e] / total for e in LABELS]
    figure = bar_chart({"production": production, "training": learned_share}, "share")
    gap = max(LABELS, key=lambda e: abs(production[LABELS.index(e)] - learned_share[LABELS.index(e)]))
    top = max(LABELS, key=readings.get)
    return section(
        "Which emotions does it report in production?", figure, how,
        f"{total} photos read so far. The most frequent reading is {top} ({readings[top] / total:.0%}). The largest "
        f"difference from training is {gap}: {production[LABELS.index(gap)]:.0%} of photos against "
        f"{learned_share[LABELS.index(gap)]:.0%} of the training faces.",
        table(["emotion", "photos read", "share in production", "share in training"],
              [[e, readings[e], percent(production[i]), percent(learned_share[i])] for i, e in enumerate(LABELS)]))


def corrections_section(readings: dict[str, int], corrections: dict[str, int]) -> str:
    rates = [corrections[e] / readings[e] if readings[e] else None for e in LABELS]
    how = ("Of the photos the bot read as showing an emotion, the share whose owner told us it was wrong. A higher "
           "bar means users disagree more often with that reading. The number on each bar is how many photos the "
           f"rate is based on; below {FEW} it is mostly chance. Only this model version's photos are counted, and "
           "a 'can't tell' that the user settles with the emotion the model thought most likely is no correction.")
    if not any(readings.values()):
        return section("How often do users correct it?", None, how, NO_PRODUCTION_DATA)
    figure = bar_chart({"corrected": rates}, "share of photos", counts={"corrected": [readings[e] for e in LABELS]})
    worst = max((e for e, rate in zip(LABELS, rates) if rate is not None), key=lambda e: corrections[e] / readings[e])
    return section(
        "How often do users correct it?", figure, how,
        f"Corrections: {sum(corrections.values())} of {sum(readings.values())} photos. Users correct {worst} "
        f"readings most often ({corrections[worst] / readings[worst]:.0%} of {readings[worst]}).",
        table(["read as", "photos", "corrections", "rate"],
              [[e, readings[e], corrections[e], percent(rate)] for e, rate in zip(LABELS, rates)]))


def thumbs_section(ratings: dict[str, dict[str, dict[str, int]]]) -> str:
    modes = list(next(iter(ratings.values())))
    rated = {mode: [ratings[e][mode]["up"] + ratings[e][mode]["down"] for e in LABELS] for mode in modes}
    rates = {mode: [ratings[e][mode]["up"] / n if n else None for e, n in zip(LABELS, rated[mode])] for mode in modes}
    how = ("Of the songs users rated, the share they gave a thumbs up, per emotion of the photo and per mode ("
           "'match' suggests songs that fit the mood, 'lift' songs meant to lift it). The number on each bar is how "
           f"many ratings it is based on; below {FEW} it is mostly chance.")
    if not any(sum(counts) for counts in rated.values()):
        return section("Do people like the songs?", None, how, "No ratings yet.")
    overall = {mode: sum(ratings[e][mode]["up"] for e in LABELS) / sum(rated[mode]) for mode in modes
               if sum(rated[mode])}
    return section(
        "Do people like the songs?", bar_chart(rates, "thumbs-up rate", counts=rated), how,
        "Thumbs-up rate over all emotions: " + ", ".join(f"{mode} {rate:.0%} of {sum(rated[mode])} ratings"
                                                         for mode, rate in overall.items()) + ".",
        table(["emotion"] + [f"{mode}: thumbs up / rated" for mode in modes],
              [[e] + [f"{ratings[e][mode]['up']} / {rated[mode][i]} ({percent(rates[mode][i])})" for mode in modes]
               for i, e in enumerate(LABELS)]))


if __name__ == "__main__":
    sys.exit(main())
