"""Figures of the model-ranking study: each model's nDCG@10 with exact search against its
nDCG@10 through each index configuration (one point per model; below the diagonal the index
costs quality), and nDCG@10 against QPS per model and index."""

from __future__ import annotations

import math
from pathlib import Path

from annbench.analysis.ranking import EXACT
from annbench.views.plots import _pyplot, _save

MAX_PANELS = 12


def _panels(configurations: list[str]) -> tuple[int, int]:
    columns = min(4, len(configurations))
    return math.ceil(len(configurations) / columns), columns


def plot_exact_vs_index(quality, stem: str | Path, measure: str = "ndcg@10") -> list[Path]:
    """One panel per index configuration (at most ``MAX_PANELS``, random order first): x the
    models' ``measure`` with exact search, y through the index, the diagonal y = x."""
    plt = _pyplot()
    exact = quality[quality["configuration"] == EXACT].set_index("model")[measure]
    others = [c for c in quality["configuration"].unique() if c != EXACT]
    others = sorted(others, key=lambda c: ("[" in c, c))[:MAX_PANELS]
    if exact.empty or not others:
        return []
    rows, columns = _panels(others)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False, layout="constrained"
    )
    low = min(quality[measure].min(), exact.min()) - 0.01
    high = max(quality[measure].max(), exact.max()) + 0.01
    for ax, configuration in zip(axes.flat, others):
        points = quality[quality["configuration"] == configuration].set_index("model")[measure]
        models = [m for m in exact.index if m in points.index]
        ax.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--")
        ax.scatter(exact[models], points[models], s=22)
        for model in models:
            ax.annotate(
                model,
                (exact[model], points[model]),
                fontsize=6,
                xytext=(3, 2),
                textcoords="offset points",
            )
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_title(configuration, fontsize=8)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(others) :]:
        ax.set_visible(False)
    fig.supxlabel(f"{measure}, exact search")
    fig.supylabel(f"{measure}, through the index")
    return _save(fig, Path(stem))


def plot_quality_vs_qps(quality, stem: str | Path, measure: str = "ndcg@10") -> list[Path]:
    """``measure`` against QPS (log) for every index configuration in random order: one
    colour per model, one marker shape per index; exact search's level as a dashed line per
    model."""
    plt = _pyplot()
    points = quality[(quality["configuration"] != EXACT) & quality["qps"].notna()]
    points = points[~points["configuration"].str.contains("[", regex=False)]
    if points.empty:
        return []
    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    exact = quality[quality["configuration"] == EXACT].set_index("model")[measure]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    adapters = points["configuration"].str.split(" ", n=1).str[0]
    markers = dict(zip(sorted(adapters.unique()), "osD^vP*X<>"))
    for i, (model, rows) in enumerate(points.groupby("model", sort=True)):
        colour = colours[i % len(colours)]
        for adapter, marker in markers.items():
            own = rows[adapters[rows.index] == adapter]
            ax.plot(own["qps"], own[measure], marker=marker, linestyle="", color=colour)
        ax.plot([], [], linewidth=6, color=colour, label=model)
        if model in exact.index:
            ax.axhline(exact[model], color=colour, linewidth=0.8, linestyle="--")
    for adapter, marker in markers.items():
        ax.plot([], [], marker=marker, linestyle="", color="grey", label=adapter)
    ax.set_xscale("log")
    ax.set_xlabel("queries per second (batch, one thread)")
    ax.set_ylabel(measure)
    ax.set_title(f"{measure} against QPS per model (colour) and index (marker); dashed: exact")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, Path(stem))


def plot_model_ranking(quality, stem: str | Path) -> list[Path]:
    """Both study figures, STEM-exact-vs-index and STEM-ndcg-qps, as PNG and SVG."""
    stem = Path(stem)
    return [
        *plot_exact_vs_index(quality, stem.parent / f"{stem.name}-exact-vs-index"),
        *plot_quality_vs_qps(quality, stem.parent / f"{stem.name}-ndcg-qps"),
    ]
