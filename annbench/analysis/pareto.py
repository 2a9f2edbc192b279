"""Pareto frontiers of the results frame and QPS at a recall target: pure functions."""

from __future__ import annotations

import numpy as np


def pareto_front(frame, x: str = "recall", y: str = "qps"):
    """Rows no other row beats in both ``x`` and ``y`` (higher is better for both).

    Among exact duplicates the first row is kept. Rows with a missing x or y are ignored.
    The front is returned in ascending ``x``.
    """
    points = frame.dropna(subset=[x, y])
    ordered = points.sort_values([x, y], ascending=[False, False], kind="stable")
    keep, best_y = [], -np.inf
    for index, value in zip(ordered.index, ordered[y].to_numpy()):
        if value > best_y:
            keep.append(index)
            best_y = value
    return points.loc[keep].sort_values(x, kind="stable")


def qps_at_recall(front, target: float, x: str = "recall", y: str = "qps") -> float:
    """QPS on a frontier at recall ``target``, interpolated linearly in log QPS between the two
    frontier points around it; NaN when the frontier never reaches the target."""
    reached = front[front[x] >= target]
    if reached.empty:
        return float("nan")
    above = reached.iloc[0]
    below = front[front[x] < target]
    if below.empty or above[x] == target:
        return float(above[y])
    below = below.iloc[-1]
    share = (target - below[x]) / (above[x] - below[x])
    return float(np.exp(np.log(below[y]) + share * (np.log(above[y]) - np.log(below[y]))))
