"""A one-page report on how fairly the emotion model treats each emotion, in the lab and in production.

    python -m train.report --db data/moodtunes.sqlite3 --data ../shared/data/fer2013/fer2013_train_publictest.csv.gz \
                           --out reports/

Writes `<out>/report.html`, one self-contained page (its figures are PNGs embedded in it) that can be mailed or
attached to an issue. Written for readers who are not ML engineers: under every figure, how to read it and what it
shows. Lab figures (per-class precision and recall, confusion matrix, calibration) come from the model run through
LiteRT on FER2013 (`--usage`, PublicTest by default); production figures (which emotions the bot reports, how often
users correct it, how often they like the songs) come from the database's aggregate `stats()`, never from
individual users; photos read and corrections are those of the reported model's version. An empty database gives a
page that says so.
"""

import argparse
import asyncio
import base64
import html
import io
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from db import Database
from model import EmotionModel
from model.preprocess import LABELS
from train import evaluate
from train.data import DataError, FaceSet, load_fer2013

REPORT_FILE = "report.html"
FEW = 20  # the page warns that a rate from fewer photos or ratings than this is mostly chance
NO_PRODUCTION_DATA = "No production data yet: the bot has not read any photos with this database."


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.report", description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="the bot's SQLite file")
    parser.add_argument("--data", required=True, help="FER2013 CSV (plain or .gz) or folder with train/ and test/")
    parser.add_argument("--out", required=True, type=Path, help=f"folder for {REPORT_FILE}")
    parser.add_argument("--model", type=Path, default=evaluate.DEFAULT_MODEL)
    parser.add_argument("--usage", default="PublicTest", help="FER2013 split to test the model on ('all' for every row)")
    parser.add_argument("--train-usage", default="Training", help="FER2013 split whose label shares are shown")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        data = load_fer2013(args.data)
        test_faces = data if args.usage == "all" else data.split(args.usage)
        version, report, probabilities = evaluate_on(args.model, test_faces, args.usage)
        stats = asyncio.run(production_stats(args.db, version))
    except (DataError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    training_faces = data.split(args.train_usage) if args.train_usage in set(data.usage.tolist()) else data

    sections = [
        recognition_section(report),
        confusion_section(report),
        calibration_section(report, test_faces.labels, probabilities),
        shares_section(stats["readings"], training_faces),
        corrections_section(stats["readings"], stats["corrections"]),
        thumbs_section(stats["ratings"]),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / REPORT_FILE
    path.write_text(page(version, report, stats, sections), encoding="utf-8")
    print(f"wrote {path} (model {version}, {report['n']} test faces, "
          f"{sum(stats['readings'].values())} photos read in production)")
    return 0


def evaluate_on(model_path: Path, faces: FaceSet, usage: str) -> tuple[str, dict, np.ndarray]:
    """Version, `train.evaluate` metrics and the probabilities (for calibration) of the model as the bot runs it."""
    model = EmotionModel.load(model_path)
    probabilities = model.classify_faces(list(faces.faces))
    return model.version, {**evaluate.metrics(faces.labels, probabilities), "usage": usage}, probabilities


async def production_stats(db_path: Path, model_version: str) -> dict:
    """Ratings of every version; photos read and corrections of this model's version only."""
    async with await Database.open(db_path, create=False) as database:
        return await database.stats(model_version=model_version)


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
        "count (no test face shows that emotion, or the model never named it).",
        f"Overall {report['accuracy']:.0%} of {report['n']} test faces are named correctly. It recognises "
        f"{best} best (recall {rows[best]['recall']:.0%}) and {worst} worst (recall {rows[worst]['recall']:.0%}).",
        table(["emotion", "precision", "recall", "test faces"],
              [[e, percent(precision[i]), percent(recall[i]), rows[e]["support"]] for i, e in enumerate(LABELS)]))


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


def calibration_section(report: dict, labels: np.ndarray, probabilities: np.ndarray) -> str:
    counts, confidence, accuracy = reliability(labels, probabilities)
    figure, axes = new_figure()
    width = 1 / len(counts)
    centres = (np.arange(len(counts)) + 0.5) * width
    used = counts > 0
    bars = axes.bar(centres[used], accuracy[used], width=width * 0.9, color="#4c72b0", label="how often it was right")
    axes.bar_label(bars, [f"n={n}" for n in counts[used]], fontsize=7)
    axes.plot([0, 1], [0, 1], "--", color="grey", label="perfectly honest")
    axes.set(xlim=(0, 1), xlabel="confidence the model stated", ylabel="answers that were right")
    axes.xaxis.set_major_formatter(percent_axis())
    over = float(np.sum(counts * (confidence - accuracy)) / max(counts.sum(), 1))
    leaning = "over-confident (it claims more than it delivers)" if over > 0 else "under-confident (modest)"
    return section(
        "Can its confidence be trusted?", finish(figure, axes),
        "When the model says it is 70% sure, it should be right about 70% of the time. Each bar groups the answers "
        "given with about the same confidence and shows how often they were right; bars on the dashed line are "
        "honest, bars below it over-confident; n is how many answers a bar stands for.",
        f"Expected calibration error (ECE) {report['ece']:.3f}: the stated confidence is off by about "
        f"{report['ece'] * 100:.0f} percentage points on average, and the model leans {leaning}.")


def shares_section(readings: dict[str, int], training_faces: FaceSet) -> str:
    total = sum(readings.values())
    learned = training_faces.class_counts()
    learned_share = [learned[e] / max(len(training_faces), 1) for e in LABELS]
    how = ("For each emotion: the share of photos the bot read as showing it (production), beside its share among "
           "the FER2013 faces the model learned from. Differences are expected, as people choose which selfies to "
           "send, but an emotion the bot almost never reports may be one it fails to see.")
    if not total:
        figure = bar_chart({"FER2013": learned_share}, "share")
        return section("Which emotions does it report in production?", figure, how, NO_PRODUCTION_DATA)
    production = [readings[e] / total for e in LABELS]
    figure = bar_chart({"production": production, "FER2013": learned_share}, "share")
    gap = max(LABELS, key=lambda e: abs(production[LABELS.index(e)] - learned_share[LABELS.index(e)]))
    top = max(LABELS, key=readings.get)
    return section(
        "Which emotions does it report in production?", figure, how,
        f"{total} photos read so far. The most frequent reading is {top} ({readings[top] / total:.0%}). The largest "
        f"difference from FER2013 is {gap}: {production[LABELS.index(gap)]:.0%} of photos against "
        f"{learned_share[LABELS.index(gap)]:.0%} of the training faces.",
        table(["emotion", "photos read", "share in production", "share in FER2013"],
              [[e, readings[e], percent(production[i]), percent(learned_share[i])] for i, e in enumerate(LABELS)]))


def corrections_section(readings: dict[str, int], corrections: dict[str, int]) -> str:
    rates = [corrections[e] / readings[e] if readings[e] else None for e in LABELS]
    how = ("Of the photos the bot read as showing an emotion, the share whose owner told us it was wrong. A higher "
           "bar means users disagree more often with that reading. The number on each bar is how many photos the "
           f"rate is based on; below {FEW} it is mostly chance. All model versions together.")
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



# ----- figures -----

def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = evaluate.CALIBRATION_BINS):
    """Per confidence bin (as in `train.evaluate`'s ECE): answers, their mean confidence, the share right."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.clip(np.digitize(confidence, np.linspace(0.0, 1.0, bins + 1)[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    mean = lambda values: np.bincount(which, weights=values, minlength=bins) / np.maximum(counts, 1)
    return counts, mean(confidence), mean(correct.astype(np.float64))


def bar_chart(series: dict[str, list], ylabel: str, counts: dict[str, list] | None = None) -> str:
    """Grouped bars, one group per emotion; `None` values are left out. Each bar is labelled with its count (how
    much the share rests on) when `counts` are given, else with its value, so a 0% bar is not taken for a gap."""
    figure, axes = new_figure(width=7.5)
    width = 0.8 / len(series)
    for number, (name, values) in enumerate(series.items()):
        x = np.arange(len(LABELS)) + (number - (len(series) - 1) / 2) * width
        shown = [(xi, v, i) for i, (xi, v) in enumerate(zip(x, values)) if v is not None]
        bars = axes.bar([xi for xi, _, _ in shown], [v for _, v, _ in shown], width=width * 0.95, label=name)
        labels = [f"n={counts[name][i]}" if counts else f"{v:.0%}" for _, v, i in shown]
        axes.bar_label(bars, labels, fontsize=7)
    axes.set_xticks(range(len(LABELS)), LABELS)
    axes.set_xlim(-0.5, len(LABELS) - 0.5)
    axes.set_ylabel(ylabel)
    return finish(figure, axes)


def new_figure(width: float = 6.0):
    import matplotlib  # a training extra, imported only where figures are drawn (as in train.evaluate)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(width, 3.6))


def finish(figure, axes) -> str:
    """Shares as percentages, the legend above the plot (never over a bar), then the PNG as a data URI."""
    import matplotlib.pyplot as plt
    axes.set_ylim(0, 1.1)
    axes.yaxis.set_major_formatter(percent_axis())
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return data_uri(buffer.getvalue())


def percent_axis():
    from matplotlib.ticker import PercentFormatter
    return PercentFormatter(1.0)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ----- the page -----

def section(title: str, image: str | None, how_to_read: str, what_it_shows: str, details: str = "") -> str:
    figure = f'<img src="{image}" alt="{html.escape(title)}">' if image else ""
    return (f"<section><h2>{html.escape(title)}</h2>{figure}"
            f'<p class="how"><b>How to read it.</b> {html.escape(how_to_read)}</p>'
            f'<p class="what"><b>What it shows.</b> {html.escape(what_it_shows)}</p>{details}</section>')


def table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def page(version: str, report: dict, stats: dict, sections: list[str]) -> str:
    users, photos = stats["users"], sum(stats["readings"].values())
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = (f"Model version {version}, tested on {report['n']} FER2013 faces ({report['usage']}). In production: "
               f"photos read {photos}; users {users['total']}, of whom {users['consenting']} consent and "
               f"{users['donating']} donate face crops. Generated {created}.")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MoodTunes emotion model report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
img {{ max-width: 100%; }} section {{ margin: 2.5rem 0; }} p.how {{ color: #555; }}
table {{ border-collapse: collapse; margin-top: .5rem; }} td, th {{ border: 1px solid #ccc; padding: .2rem .6rem; }}
td {{ text-align: right; }} td:first-child {{ text-align: left; }}
</style></head><body>
<h1>How the emotion model treats each emotion</h1>
<p>{html.escape(summary)}</p>
<p>The bot reads the emotion in a selfie and picks songs for it. A model that is worse at some emotions gives the
people who feel them worse suggestions. This page shows, emotion by emotion, how well the model does on labelled
test faces and what happens with real users. Figures about users are totals; no person can be picked out.</p>
{"".join(sections)}
</body></html>
"""


if __name__ == "__main__":
    sys.exit(main())
