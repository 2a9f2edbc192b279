"""Recall by query difficulty: pure functions of per-query arrays and the results frame.

The functions take a measure's values twice over: ``values`` in the measure's own units (for
the ranges shown) and ``hardness``, the same turned so that larger is harder
(``annbench.intrinsic.difficulty.difficulty``: for LID and Mahalanobis a high value is hard,
for relative contrast and expansion a low one), which the caller computes.

Difficulty bins. The queries whose measure is defined (not NaN) are ordered by hardness,
easiest first (+inf counts as a value, so an RC of +inf is the easiest), ties kept in query
order, and split into ``bins`` groups of equal
size (sizes differ by at most one: the first groups take the remainder). With the default
five bins these are the quintiles of difficulty. A bin's range is the lowest and highest
measure value among its queries, in the measure's own units; adjacent ranges can share a
value where ties straddle a boundary. Queries with an undefined measure belong to no bin and
are counted.

The hardest share (10% by default) is the ceil(share x defined) hardest queries in the same
order (at least one).

QPS at a recall level is read the way the report's ranking reads it: off the adapter's
recall-vs-QPS Pareto frontier over all its points, interpolated linearly in log QPS between
the frontier points around the level (``annbench.analysis.pareto.qps_at_recall``); NaN where
the frontier never reaches it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from annbench.analysis.pareto import pareto_front, qps_at_recall

DEFAULT_BINS = 5
HARDEST_SHARE = 0.10
TARGET_RECALL = 0.95
OOD_RECALL = 0.90
POINT_KEYS = ["dataset", "adapter", "build_params", "query_params", "mode", "search_threads"]


@dataclass(frozen=True)
class DifficultyBins:
    """Queries split into bins of equal size by one measure, easiest bin first."""

    measure: str  # its name, for the reader
    assignment: np.ndarray  # per query: its bin (0 = easiest), -1 where the measure is NaN
    ranges: tuple[tuple[float, float], ...]  # per bin: lowest and highest measure value
    counts: tuple[int, ...]  # per bin: its queries
    undefined: int  # queries in no bin

    @property
    def bins(self) -> int:
        return len(self.counts)


def hardness_order(hardness: np.ndarray) -> np.ndarray:
    """Rows of the queries with a defined hardness, easiest first (ties: query order)."""
    hardness = np.asarray(hardness, dtype=np.float64)
    rows = np.flatnonzero(~np.isnan(hardness))
    return rows[np.argsort(hardness[rows], kind="stable")]


def difficulty_bins(
    values: np.ndarray, hardness: np.ndarray, bins: int = DEFAULT_BINS, measure: str = ""
) -> DifficultyBins:
    """The queries split into ``bins`` equal-size difficulty bins (see the module text)."""
    if bins < 1:
        raise ValueError(f"bins must be 1 or more, got {bins}")
    values = np.asarray(values, dtype=np.float64)
    if np.shape(hardness) != values.shape:
        raise ValueError(f"{np.size(hardness)} hardness values for {len(values)} queries")
    ordered = hardness_order(hardness)
    assignment = np.full(len(values), -1, dtype=np.int64)
    ranges, counts = [], []
    for number, rows in enumerate(np.array_split(ordered, bins)):
        assignment[rows] = number
        counts.append(len(rows))
        inside = values[rows]
        ranges.append((float(inside.min()), float(inside.max())) if len(rows) else (np.nan,) * 2)
    return DifficultyBins(
        measure=measure,
        assignment=assignment,
        ranges=tuple(ranges),
        counts=tuple(counts),
        undefined=int(len(values) - len(ordered)),
    )


def recall_by_bin(recall_per_query: np.ndarray, binning: DifficultyBins) -> np.ndarray:
    """Mean recall of each bin's queries, easiest bin first (NaN for an empty bin)."""
    recall = np.asarray(recall_per_query, dtype=np.float64)
    if recall.shape != binning.assignment.shape:
        raise ValueError(
            f"{len(recall)} per-query recalls for {len(binning.assignment)} queries' measures"
        )
    return np.array(
        [
            recall[binning.assignment == b].mean() if binning.counts[b] else np.nan
            for b in range(binning.bins)
        ]
    )


def hardest_recall(
    recall_per_query: np.ndarray, hardness: np.ndarray, share: float = HARDEST_SHARE
) -> float:
    """Mean recall over the hardest ``share`` of the queries with a defined hardness (NaN
    when none has one)."""
    ordered = hardness_order(hardness)
    if not len(ordered):
        return float("nan")
    hardest = ordered[-max(1, math.ceil(share * len(ordered))) :]
    return float(np.asarray(recall_per_query, dtype=np.float64)[hardest].mean())


def usable_points(frame):
    """The ok rows of static workloads (difficulty is per query of the dataset's own queries;
    a filter workload's recall is against other ground truth)."""
    return frame[(frame["status"] == "ok") & frame["workload"].fillna("static").eq("static")]


def nearest_recall_points(frame, target: float = TARGET_RECALL):
    """Each (dataset, adapter)'s point whose mean recall is nearest ``target`` (a tie: the
    faster point)."""
    ok = frame[frame["status"] == "ok"]
    if ok.empty:
        return ok
    ranked = ok.assign(_gap=(ok["recall"] - target).abs()).sort_values(
        ["_gap", "qps"], ascending=[True, False], kind="stable"
    )
    chosen = ranked.drop_duplicates(["dataset", "adapter"]).drop(columns="_gap")
    return chosen.sort_values(["dataset", "adapter"], kind="stable")


def recall_by_difficulty(points, binnings: dict[str, DifficultyBins]):
    """One row per (point, bin), tidy: ``point`` (its number), its keys, ``measure``,
    ``bin`` (1 = easiest), ``low``/``high`` (the bin's measure range), ``queries`` and
    ``recall`` (mean over the bin's queries), for the points of every dataset in
    ``binnings`` (with ``recall_per_query``)."""
    import pandas as pd

    rows = []
    chosen = points[points["dataset"].isin(list(binnings))]
    for number, (_, point) in enumerate(chosen.iterrows()):
        binning = binnings[point["dataset"]]
        recalls = recall_by_bin(point["recall_per_query"], binning)
        keys = {key: point[key] for key in POINT_KEYS if key in point.index}
        for bin_number, (recall, (low, high), count) in enumerate(
            zip(recalls, binning.ranges, binning.counts), 1
        ):
            rows.append(
                {
                    "point": number,
                    **keys,
                    "point_recall": float(point["recall"]),
                    "measure": binning.measure,
                    "bin": bin_number,
                    "low": low,
                    "high": high,
                    "queries": count,
                    "recall": float(recall),
                }
            )
    return pd.DataFrame(rows)


def bins_wide(table):
    """The tidy ``recall_by_difficulty`` table with one row per point and a column of recall
    per bin (``bin 1`` easiest), in the order the points came."""
    keys = [key for key in [*POINT_KEYS, "point_recall"] if key in table.columns]
    recalls = table.pivot(index="point", columns="bin", values="recall")
    recalls.columns = [f"bin {number}" for number in recalls.columns]
    wide = table.drop_duplicates("point").set_index("point")[keys].join(recalls)
    return wide.reset_index(drop=True).rename(columns={"point_recall": "recall"})


def qps_at_recall_by_adapter(frame, target: float) -> dict[str, float]:
    """adapter -> the QPS its frontier reaches at recall ``target`` (NaN: not reached)."""
    ok = frame[frame["status"] == "ok"]
    return {
        adapter: qps_at_recall(pareto_front(points), target)
        for adapter, points in ok.groupby("adapter", sort=True)
    }


def in_vs_out_of_distribution(parent, shifted, target: float = OOD_RECALL):
    """Per adapter with points on either: QPS at recall ``target`` on the parent's queries
    and on the shifted queries, and ``ratio`` = shifted / parent (NaN where either is not
    reached)."""
    import pandas as pd

    inside = qps_at_recall_by_adapter(parent, target)
    outside = qps_at_recall_by_adapter(shifted, target)
    rows = []
    for adapter in sorted(set(inside) | set(outside)):
        qps_in = inside.get(adapter, np.nan)
        qps_out = outside.get(adapter, np.nan)
        rows.append(
            {
                "adapter": adapter,
                "qps_parent": qps_in,
                "qps_ood": qps_out,
                "ratio": qps_out / qps_in if qps_in > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["adapter", "qps_parent", "qps_ood", "ratio"])


def bin_medians(values: np.ndarray, binning: DifficultyBins) -> np.ndarray:
    """The median finite measure value of each bin (NaN where a bin holds none): where to
    draw the bin on an axis of the measure."""
    values = np.asarray(values, dtype=np.float64)
    medians = []
    for number in range(binning.bins):
        inside = values[(binning.assignment == number) & np.isfinite(values)]
        medians.append(float(np.median(inside)) if len(inside) else np.nan)
    return np.array(medians)
