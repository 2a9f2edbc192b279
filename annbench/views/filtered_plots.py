"""The filtered-search figures: recall vs QPS per selectivity, QPS at a recall target against
selectivity per correlation, recall against alpha."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annbench.analysis.pareto import pareto_front
from annbench.views.plots import _pyplot, _save


def plot_filtered(
    frame, stem: str | Path, name: str, target: float = 0.9, table=None
) -> list[Path]:
    """The filtered-search views of one dataset's filter workloads, as STEM-*.png/svg:

    - recall vs QPS, one panel per target selectivity (lines: methods; line style:
      correlation);
    - QPS at recall ``target`` against selectivity, one panel per correlation;
    - per-query recall against alpha (the rank of the 10th passing vector), each method at
      its point nearest mean recall ``target``.

    ``table``: the frame's ``cell_table`` where the caller has it already.
    """
    from annbench.analysis.filtered import cell_table, filtered_rows

    rows = filtered_rows(frame)
    if rows.empty:
        return []
    plt = _pyplot()
    stem = Path(stem)
    written = []
    styles = {"positive": "-", "none": "--", "negative": ":"}
    selectivities = sorted(rows["target_selectivity"].unique(), reverse=True)
    fig, axes = plt.subplots(
        1,
        len(selectivities),
        figsize=(4.5 * len(selectivities), 4),
        layout="constrained",
        squeeze=False,
    )
    for ax, selectivity in zip(axes[0], selectivities):
        cell = rows[rows["target_selectivity"] == selectivity]
        for (method, correlation), points in cell.groupby(["method", "correlation"], sort=True):
            front = pareto_front(points)
            ax.plot(
                front["recall"],
                front["qps"],
                styles.get(correlation, "-"),
                marker="o",
                markersize=3,
                label=f"{method}, {correlation}",
            )
        ax.set_yscale("log")
        label = "any" if selectivity < 0 else f"{selectivity:g}"
        ax.set_title(f"selectivity {label}")
        ax.set_xlabel("recall@10")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("queries per second (log)")
    axes[0][-1].legend(loc="best", fontsize="x-small")
    fig.suptitle(f"{name}: filtered search, recall vs QPS")
    written += _save(fig, stem.with_name(f"{stem.name}-recall-qps"))

    table = cell_table(frame, target=target) if table is None else table
    column = f"qps_at_recall_{target:g}"
    correlations = [c for c in ("positive", "none", "negative") if c in set(table["correlation"])]
    fig, axes = plt.subplots(
        1,
        len(correlations),
        figsize=(4.5 * len(correlations), 4),
        layout="constrained",
        squeeze=False,
        sharey=True,
    )
    for ax, correlation in zip(axes[0], correlations):
        part = table[table["correlation"] == correlation]
        for method, points in part.groupby("method", sort=True):
            points = points.sort_values("selectivity")
            ax.plot(points["selectivity"], points[column], marker="o", label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"correlation {correlation}")
        ax.set_xlabel("selectivity (fraction passing)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(f"QPS at recall {target:g} (log)")
    axes[0][-1].legend(loc="best", fontsize="small")
    fig.suptitle(f"{name}: QPS at recall {target:g} against selectivity (missing: not reached)")
    written += _save(fig, stem.with_name(f"{stem.name}-qps-selectivity"))

    if "recall_per_query" in rows.columns:
        fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
        for method, points in rows.groupby("method", sort=True):
            recalls, alphas = [], []
            for _, point in points.iterrows():
                alpha = np.asarray(point["alpha_per_query"])
                keep = alpha > 0
                recalls.append(np.asarray(point["recall_per_query"])[keep])
                alphas.append(alpha[keep])
            alpha, recall = np.concatenate(alphas), np.concatenate(recalls)
            edges = np.unique(np.geomspace(1, max(alpha.max(), 2), 12).astype(int))
            which = np.digitize(alpha, edges)
            means = [recall[which == b].mean() for b in range(1, len(edges)) if (which == b).any()]
            centres = [edges[b - 1] for b in range(1, len(edges)) if (which == b).any()]
            ax.plot(centres, means, marker="o", label=method)
        ax.set_xscale("log")
        ax.set_xlabel("alpha: rank of the 10th passing vector in the unfiltered order (log)")
        ax.set_ylabel("mean recall@10 of the queries")
        ax.set_title(f"{name}: recall against alpha, all points of each method")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        written += _save(fig, stem.with_name(f"{stem.name}-recall-alpha"))
    return written
