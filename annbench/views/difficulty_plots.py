"""Recall against query difficulty: the measures and provenance of the datasets behind the
results (read from their files), their queries' difficulty bins, and the figures of recall
per bin."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annbench.analysis.difficulty import (
    DEFAULT_BINS,
    HARDEST_SHARE,
    TARGET_RECALL,
    DifficultyBins,
    bin_medians,
    bins_wide,
    difficulty_bins,
    hardest_recall,
    nearest_recall_points,
    recall_by_bin,
)
from annbench.errors import UserError
from annbench.intrinsic.difficulty import (
    DEFAULT_MEASURE,
    EXPANSION_KS,
    LID_KS,
    RC_KS,
    difficulty,
    harder_is_high,
)
from annbench.views.plots import _pyplot, _save

PLOT_MEASURES = ("lid_100", "rc_10")
PLOT_BINS = 10
AXIS_LABELS = {
    "lid_100": "query LID (MLE over 100 neighbours), bin median",
    "rc_10": "query relative contrast RC_10 (mean distance / 10th-neighbour distance), bin median",
}


MEASURES = (
    *(f"lid_{k}" for k in LID_KS),
    *(f"rc_{k}" for k in RC_KS),
    *(f"expansion_{k}" for k in EXPANSION_KS),
    "mahalanobis",
    "mahalanobis_diag",
)


def known_measure(measure: str) -> bool:
    """Whether ``measure`` names a per-query difficulty measure a dataset file can store."""
    return measure in MEASURES


def measure_choices() -> str:
    return ", ".join([*DEFAULT_MEASURE, *MEASURES])


def hardness_direction(measure: str) -> str:
    return "high is hard" if harder_is_high(measure) else "low is hard"


def describe_hint(name: str) -> str:
    return f"run `annbench datasets describe {name} --queries` to add them"


def measure_bins(values: np.ndarray, measure: str, bins: int = DEFAULT_BINS) -> DifficultyBins:
    """The queries in ``bins`` equal-size bins of ``measure``, the hard end chosen by it."""
    return difficulty_bins(values, difficulty(values, measure), bins, measure)


def dataset_binnings(
    measures: dict[str, dict[str, np.ndarray]], measure: str, bins: int = DEFAULT_BINS
) -> dict[str, DifficultyBins]:
    """dataset -> its queries' bins by ``measure``, for the datasets that store it."""
    return {
        name: measure_bins(stored[measure], measure, bins)
        for name, stored in measures.items()
        if measure in stored
    }


def hardest_share_recall(
    recall_per_query: np.ndarray, values: np.ndarray, measure: str, share: float = HARDEST_SHARE
) -> float:
    """Mean recall over the hardest ``share`` of the queries by ``measure``."""
    return hardest_recall(recall_per_query, difficulty(values, measure), share)


@dataclass(frozen=True)
class DatasetFacts:
    """What the results need to know of one dataset file: where it is (None: not found),
    its per-query measures (empty: none stored) and its provenance."""

    path: Path | None
    measures: dict[str, np.ndarray] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)


def dataset_facts(frame, data_dir: str | os.PathLike | None = None) -> dict[str, DatasetFacts]:
    """Per dataset of ``frame``: its file (the path its results read, else NAME.hdf5 in
    ``data_dir``), measures and source. Measures whose length is not the results' number of
    queries (a remade file) are dropped."""
    from annbench.datasets.store import dataset_info, load_query_measures

    facts = {}
    for name, rows in frame.groupby("dataset", sort=True):
        candidates = [Path(p) for p in rows["dataset_path"].dropna().unique()]
        if data_dir is not None:
            candidates.append(Path(data_dir) / f"{name}.hdf5")
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            facts[name] = DatasetFacts(None)
            continue
        try:
            measures, _ = load_query_measures(path)
            source = dataset_info(path).get("source", {})
        except UserError:
            facts[name] = DatasetFacts(None)
            continue
        counts = set(rows.loc[rows["status"] == "ok", "n_queries"].dropna().astype(int))
        if counts and counts != {len(next(iter(measures.values()), []))}:
            measures = {}
        facts[name] = DatasetFacts(path, measures, source if isinstance(source, dict) else {})
    return facts


def plot_recall_by_difficulty(
    rows,
    measures: dict[str, np.ndarray],
    stem: str | Path,
    name: str,
    *,
    target: float = TARGET_RECALL,
    bins: int = PLOT_BINS,
) -> list[Path]:
    """Recall against query LID and against RC (STEM-lid_100 and STEM-rc_10, PNG and SVG):
    the queries in ``bins`` equal-size bins of the measure, one line per adapter at its point
    nearest mean recall ``target``, each bin drawn at its median measure value. ``rows``: one
    dataset's ok static points with ``recall_per_query``. [] where it has neither measure."""
    chosen = nearest_recall_points(rows, target)
    plt = _pyplot()
    stem = Path(stem)
    written = []
    for measure in (m for m in PLOT_MEASURES if m in measures and not chosen.empty):
        binning = measure_bins(measures[measure], measure, bins)
        centres = bin_medians(measures[measure], binning)
        fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
        for _, point in chosen.iterrows():
            recalls = recall_by_bin(point["recall_per_query"], binning)
            label = f"{point['adapter']} {point['query_params']} (recall {point['recall']:.3f})"
            ax.plot(centres, recalls, marker="o", label=label)
        ax.set_xlabel(AXIS_LABELS.get(measure, measure))
        ax.set_ylabel(f"mean recall@{int(chosen['k'].iloc[0])} of the bin's queries")
        ax.set_title(
            f"{name}: recall against {measure} ({hardness_direction(measure)})\n"
            f"{bins} bins of equal size, each adapter at its point nearest recall {target:g}",
            fontsize="medium",
        )
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        written += _save(fig, stem.with_name(f"{stem.name}-{measure}"))
    return written


def difficulty_text(table, binnings: dict[str, DifficultyBins]) -> str:
    """The ``recall_by_difficulty`` table as text: per dataset its bins' measure ranges, then
    one line per point with its recall in each bin, easiest to hardest."""
    blocks = []
    for name, rows in table.groupby("dataset", sort=True):
        binning = binnings[name]
        lines = [
            f"{name}: recall per {binning.measure} bin ({hardness_direction(binning.measure)}), "
            f"{binning.bins} bins of equal size, easiest to hardest"
        ]
        for number, ((low, high), count) in enumerate(zip(binning.ranges, binning.counts), 1):
            lines.append(
                f"  bin {number}: {binning.measure} {low:.4g} to {high:.4g}, {count} queries"
            )
        if binning.undefined:
            lines.append(f"  {binning.undefined} queries without a {binning.measure} left out")
        wide = bins_wide(rows).drop(columns=["dataset"])
        empty = [c for c in wide.columns if not c.startswith("bin ") and wide[c].isna().all()]
        wide = wide.drop(columns=empty)
        lines.append(wide.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.3f}"))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def plot_query_sets(frame, names: dict[str, str], stem: str | Path) -> list[Path]:
    """Recall vs QPS of each adapter on each query set (STEM-query-sets, PNG and SVG): one
    panel per adapter, one Pareto frontier per set. ``names``: role (all, easy, hard, ood)
    -> dataset name; batch-mode points where there are any (single mode times otherwise)."""
    from annbench.analysis.pareto import pareto_front

    ok = frame[(frame["status"] == "ok") & frame["dataset"].isin(list(names.values()))]
    if (ok["mode"] == "batch").any():
        ok = ok[ok["mode"] == "batch"]
    adapters = sorted(ok["adapter"].unique())
    if not adapters:
        return []
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(adapters), figsize=(5 * len(adapters), 4.5), layout="constrained", squeeze=False
    )
    for ax, adapter in zip(axes[0], adapters):
        for role, name in names.items():
            points = ok[(ok["adapter"] == adapter) & (ok["dataset"] == name)]
            if points.empty:
                continue
            front = pareto_front(points)
            ax.plot(front["recall"], front["qps"], marker="o", markersize=3, label=role)
        ax.set_yscale("log")
        ax.set_title(adapter)
        ax.set_xlabel(f"recall@{int(ok['k'].iloc[0])}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[0][0].set_ylabel("queries per second (log)")
    fig.suptitle(f"{names.get('all', '')}: recall vs QPS per query set")
    stem = Path(stem)
    return _save(fig, stem.with_name(f"{stem.name}-query-sets"))
