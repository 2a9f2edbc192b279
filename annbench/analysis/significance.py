"""Is the difference real? Paired tests of two configurations over the same queries.

Two configurations answered the same queries, so each query gives a pair: its recall (or its
single-query latency) under A and under B. The Wilcoxon signed-rank test asks whether the
paired differences ``a - b`` lean to one side more than chance would make them; it needs no
normal distribution, which per-query recall (a few discrete values) and latency (skewed)
never have. Pairs with no difference are dropped before ranking (scipy's ``zero_method=
"wilcox"``), so ``n_nonzero`` is the number of queries that carry evidence; with none the
sides are indistinguishable (p = 1). The p-value comes from the exact null distribution (or,
with tied differences, all sign permutations) while few queries differ and from the normal
approximation beyond, so with fewer than six differing queries no p falls below 0.05.

What the latency test can say: the queries are its units, so it asks whether these two runs
answered the same queries at different speeds. A drift of the whole run (another build of
the same index, a busier machine) is such a difference too: two runs of one configuration
came out "significant" on latency in 20-25% of tries on a 2-core machine, their median
latencies 0.875-1.18x apart. So a latency difference is called significant only where the
test says so *and* the ratio of median latencies lies beyond the run-to-run drift margin
(``LATENCY_MARGIN``, 25% by default: outside 1/1.25 .. 1.25), as the regression gate pairs
Welch's test with a threshold. Recall has no such drift (the same build answers the same).

Effect size: the matched-pairs rank-biserial correlation, from the same signed ranks the
test uses: rank the non-zero ``|a - b|`` (ties get their mean rank), then
``r = (sum of ranks where a > b - sum of ranks where a < b) / sum of all ranks``. It lies in
[-1, 1]: +1 when A is higher on every query that differs, 0 when neither side leads.

Comparing more than two configurations makes one test per pair; the p-values of each measure
are then Holm-corrected over the pairs (statsmodels), which keeps the chance of any false
"significant" at most ``alpha`` and is never less powerful than Bonferroni.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np

from annbench.errors import UserError

ALPHA = 0.05
LATENCY_MARGIN = 0.25
MEASURES = {"recall": "recall_per_query", "latency": "latency_per_query_ms"}
# the frame's columns that must agree between compared points: the same dataset content
# (hence the same queries and ground truth), workload and k
SAME_QUERIES = ("dataset_hash", "workload", "k", "n_queries")


@dataclass(frozen=True)
class PairedTest:
    """A Wilcoxon signed-rank test of paired samples ``a`` and ``b``.

    ``median_difference``: the median of ``a - b`` over all pairs; ``effect_size``: the
    matched-pairs rank-biserial correlation (positive: ``a`` tends to be higher).
    """

    n: int
    n_nonzero: int
    median_difference: float
    effect_size: float
    p: float


def rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation of paired differences (0 where none differs)."""
    from scipy import stats

    differences = np.asarray(differences, dtype=np.float64)
    nonzero = differences[differences != 0]
    if not len(nonzero):
        return 0.0
    ranks = stats.rankdata(np.abs(nonzero))
    return float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())


def paired_test(a, b) -> PairedTest:
    """Wilcoxon signed-rank test (two-sided) of ``a`` against ``b``, paired by position."""
    from scipy import stats

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired samples need one equal length > 0; got {a.shape}, {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired samples must be finite")
    differences = a - b
    n_nonzero = int(np.count_nonzero(differences))
    p = 1.0  # no query differs: nothing tells the sides apart
    if n_nonzero:
        # only the differing pairs go in (what zero_method="wilcox" ranks anyway), so that
        # scipy picks its exact or permutation null distribution by their count: given all
        # pairs, 5 differing among 50 would get the normal approximation and p = 0.043
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            p = float(stats.wilcoxon(differences[differences != 0]).pvalue)
        if not np.isfinite(p):
            p = 1.0
    return PairedTest(
        n=len(a),
        n_nonzero=n_nonzero,
        median_difference=float(np.median(differences)),
        effect_size=rank_biserial(differences),
        p=p,
    )


def holm(p_values) -> np.ndarray:
    """Holm-corrected p-values (NaN stays NaN and is left out of the family)."""
    from statsmodels.stats.multitest import multipletests

    p_values = np.asarray(p_values, dtype=np.float64)
    corrected = np.full_like(p_values, np.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        corrected[finite] = multipletests(p_values[finite], method="holm")[1]
    return corrected


def fastest_at_recall(frame, recall: float, names: list[str], *, by: str = "adapter"):
    """Each name's fastest single-mode point reaching ``recall``: one row per name, in order.

    ``frame``: the per-query frame of one dataset (``load_frame(..., per_query=True)``);
    ``by``: the column holding the names. Refused (UserError) where a name has no successful
    single-mode point reaching the recall (the line says the best it reached), or where the
    chosen points were not measured on the same queries.
    """
    import pandas as pd

    if not 0 < recall <= 1:
        raise UserError(f"recall {recall:g} is outside (0, 1]")
    missing = set(MEASURES.values()) - set(frame.columns)
    if missing:
        raise ValueError(f"the frame lacks {sorted(missing)}: load it with per_query=True")
    ok = frame[frame["status"] == "ok"]
    chosen = []
    for name in names:
        rows = ok[ok[by] == name]
        if rows.empty:
            raise UserError(f"{name} has no successful results to compare")
        single = rows[rows["mode"] == "single"]
        if single.empty:
            raise UserError(
                f"{name} has no single-mode results; per-query latency needs a sweep with "
                "`modes: [single]` (or [batch, single])"
            )
        reaching = single[single["recall"] >= recall]
        if reaching.empty:
            raise UserError(
                f"{name} reaches recall {single['recall'].max():.4f} at best in single mode, "
                f"below {recall:g}; ask for a lower --recall or sweep higher query parameters"
            )
        chosen.append(reaching.loc[reaching["qps"].idxmax()])
    table = pd.DataFrame(chosen).reset_index(drop=True)
    table["name"] = list(names)
    _check_same_queries(table)
    return table


def _check_same_queries(table) -> None:
    for column in SAME_QUERIES:
        if table[column].nunique(dropna=False) > 1:
            values = ", ".join(f"{n}: {v}" for n, v in zip(table["name"], table[column]))
            raise UserError(
                f"the configurations were not measured on the same queries ({column} differs: "
                f"{values}); compare runs of one dataset content, workload and k"
            )


def compare_points(chosen, *, alpha: float = ALPHA, latency_margin: float = LATENCY_MARGIN):
    """Every pair of the points ``fastest_at_recall`` chose, tested on recall and latency.

    One row per pair and measure: a, b, measure, n (queries), n_nonzero, median_difference
    (a - b; latency in ms), median_ratio (latency: median of a over median of b), effect_size,
    p, p_holm (over the pairs of that measure), beyond_margin (latency: the ratio lies
    outside 1/(1 + margin) .. 1 + margin; recall: always), significant (p_holm < alpha and
    beyond_margin).
    """
    import pandas as pd

    if not 0 < alpha < 1:
        raise UserError(f"alpha {alpha:g} is outside (0, 1)")
    if not latency_margin >= 0:
        raise UserError(f"the latency margin {latency_margin:g} must be 0 or more")
    rows = []
    for (_, a), (_, b) in itertools.combinations(chosen.iterrows(), 2):
        for measure, column in MEASURES.items():
            test = paired_test(a[column], b[column])
            ratio = np.nan
            if measure == "latency":
                ratio = float(np.median(a[column]) / np.median(b[column]))
            rows.append(
                {
                    "a": a["name"],
                    "b": b["name"],
                    "measure": measure,
                    "n": test.n,
                    "n_nonzero": test.n_nonzero,
                    "median_difference": test.median_difference,
                    "median_ratio": ratio,
                    "effect_size": test.effect_size,
                    "p": test.p,
                }
            )
    table = pd.DataFrame(rows)
    table["p_holm"] = np.nan
    for _, group in table.groupby("measure", sort=False):
        table.loc[group.index, "p_holm"] = holm(group["p"])
    ratio = table["median_ratio"]
    table["beyond_margin"] = (table["measure"] != "latency") | (
        (ratio > 1 + latency_margin) | (ratio < 1 / (1 + latency_margin))
    )
    table["significant"] = (table["p_holm"] < alpha) & table["beyond_margin"]
    return table


def compare_at_recall(
    frame,
    recall: float,
    names: list[str],
    *,
    by: str = "adapter",
    alpha: float = ALPHA,
    latency_margin: float = LATENCY_MARGIN,
):
    """(chosen points, pair table): ``fastest_at_recall`` then ``compare_points``."""
    if len(names) < 2 or len(set(names)) < len(names):
        raise UserError(f"name two different configurations or more to compare; got {names}")
    chosen = fastest_at_recall(frame, recall, names, by=by)
    return chosen, compare_points(chosen, alpha=alpha, latency_margin=latency_margin)
