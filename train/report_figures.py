"""The report's figures: matplotlib (a training extra, imported only when a figure is drawn) to PNG data URIs."""

import base64
import io

import numpy as np

from model.preprocess import LABELS


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


def reliability_chart(counts: np.ndarray, confidence: np.ndarray, accuracy: np.ndarray) -> str:
    """Bars of how often answers were right per confidence bin, against the diagonal of perfect honesty. Each bar
    carries its count, written upright so that neighbouring counts never run into each other."""
    figure, axes = new_figure()
    width = 1 / len(counts)
    centres = (np.arange(len(counts)) + 0.5) * width
    used = counts > 0
    bars = axes.bar(centres[used], accuracy[used], width=width * 0.9, color="#4c72b0", label="how often it was right")
    axes.bar_label(bars, [f"n={n}" for n in counts[used]], fontsize=7, rotation=90, padding=3)
    axes.plot([0, 1], [0, 1], "--", color="grey", label="perfectly honest")
    axes.set(xlim=(0, 1), xlabel="confidence the model stated", ylabel="answers that were right")
    axes.xaxis.set_major_formatter(percent_axis())
    return finish(figure, axes, top=1.3)


def new_figure(width: float = 6.0):
    import matplotlib  # a training extra, imported only where figures are drawn (as in train.evaluate)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(width, 3.6))


def finish(figure, axes, top: float = 1.1) -> str:
    """Shares as percentages, the legend above the plot (never over a bar), then the PNG as a data URI."""
    import matplotlib.pyplot as plt
    axes.set_ylim(0, top)
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
