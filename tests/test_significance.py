"""Is the difference real? Paired tests of configurations, Holm over pairs, `annbench compare`,
and the insertion-order study's Welch interval of the difference."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annbench.analysis.compare import order_effect
from annbench.analysis.significance import (
    compare_at_recall,
    compare_points,
    fastest_at_recall,
    holm,
    paired_test,
    rank_biserial,
)
from annbench.errors import UserError
from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame

# --- the paired test ---------------------------------------------------------------------------


def test_paired_test_gives_scipys_wilcoxon_p_on_continuous_and_tied_samples():
    rng = np.random.default_rng(0)
    a = rng.normal(size=40)
    b = a + rng.normal(0.3, 1.0, size=40)
    assert paired_test(a, b).p == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)
    # recall-like: few discrete values, many zero differences and ties
    a = rng.choice([0.7, 0.8, 0.9, 1.0], size=60)
    b = np.clip(a + rng.choice([0.0, 0.0, 0.1, -0.1, 0.1], size=60), 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = stats.wilcoxon(a, b, zero_method="wilcox").pvalue
    assert paired_test(a, b).p == pytest.approx(expected, rel=1e-12)


def test_paired_test_exact_p_on_a_tiny_sample():
    # six pairs, all a > b with distinct differences: the exact two-sided p is 2 / 2**6
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    result = paired_test(a + np.arange(1, 7) * 0.1, a)
    assert result.p == pytest.approx(2 / 64)
    assert result.effect_size == 1.0 and result.n == result.n_nonzero == 6
    assert result.median_difference == pytest.approx(0.35)


def test_rank_biserial_from_signed_ranks():
    # |d| ranks 1, 2, 3, 4; positive ranks 1 + 2 + 4, negative 3: (7 - 3) / 10
    assert rank_biserial(np.array([1.0, 2.0, -3.0, 4.0])) == pytest.approx(0.4)
    # zeros are dropped before ranking; ties share their mean rank: (1.5 - 1.5) / 3
    assert rank_biserial(np.array([0.0, 0.5, -0.5, 0.0])) == 0.0
    assert rank_biserial(np.array([-1.0, -2.0])) == -1.0
    # the same figure as from scipy's statistic: r = (R+ - R-) / (n(n+1)/2), R+ + R- = n(n+1)/2
    d = np.random.default_rng(1).normal(0.2, 1, size=30)
    minus = stats.wilcoxon(d, alternative="greater").statistic  # R+ for one-sided "greater"
    total = 30 * 31 / 2
    assert rank_biserial(d) == pytest.approx((minus - (total - minus)) / total)


def test_identical_arrays_have_p_one_no_effect_and_no_warning():
    recall = np.array([1.0, 0.9, 0.8, 1.0, 0.7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_test(recall, recall.copy())
    assert (result.p, result.effect_size, result.median_difference) == (1.0, 0.0, 0.0)
    assert result.n_nonzero == 0


def test_too_few_differing_pairs_can_never_be_significant():
    a = np.ones(50)
    b = a.copy()
    b[:5] -= np.array([0.1, 0.2, 0.3, 0.4, 0.5])  # five queries differ, all one way
    result = paired_test(a, b)
    assert result.n_nonzero == 5 and result.effect_size == 1.0
    assert result.p == pytest.approx(2 / 32)  # the smallest p five pairs can give


def test_paired_test_refuses_unpaired_samples():
    with pytest.raises(ValueError):
        paired_test([1.0, 2.0], [1.0])


def test_holm_matches_the_hand_computation_and_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1 -> 0.04, 0.09, 0.08 (raised to 0.09), 0.2
    assert holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    rng = np.random.default_rng(2)
    for _ in range(20):
        p = rng.uniform(0, 0.2, size=rng.integers(2, 12))
        corrected = holm(p)
        assert corrected == pytest.approx(multipletests(p, method="holm")[1])
        assert (corrected >= p).all() and (corrected <= 1).all()
        ordered = corrected[np.argsort(p)]
        assert (np.diff(ordered) >= 0).all()  # monotone in the raw order
    with_nan = holm(np.array([0.01, np.nan, 0.02]))
    assert np.isnan(with_nan[1]) and with_nan[[0, 2]] == pytest.approx([0.02, 0.02])


# --- choosing points and comparing pairs (constructed frames) ----------------------------------


def _point(name, recall_per_query, latency_ms, qps, mode="single", **extra):
    recall_per_query = np.asarray(recall_per_query, dtype=float)
    return {
        "config": name,
        "status": "ok",
        "mode": mode,
        "recall": recall_per_query.mean(),
        "qps": qps,
        "recall_per_query": recall_per_query,
        "latency_per_query_ms": np.asarray(latency_ms, dtype=float),
        "dataset_hash": "h1",
        "workload": "static",
        "k": 10,
        "n_queries": len(recall_per_query),
        **extra,
    }


def test_fastest_point_reaching_the_recall_is_chosen():
    n = 20
    frame = pd.DataFrame(
        [
            _point("a", np.full(n, 0.80), np.full(n, 0.1), qps=9000),  # fast, below 0.9
            _point("a", np.full(n, 0.95), np.full(n, 0.3), qps=3000),
            _point("a", np.full(n, 0.99), np.full(n, 0.5), qps=2000),
            _point("a", np.full(n, 0.99), np.full(n, 0.05), qps=50000, mode="batch"),
            _point("b", np.full(n, 0.92), np.full(n, 0.2), qps=4000),
        ]
    )
    chosen = fastest_at_recall(frame, 0.9, ["a", "b"], by="config")
    assert chosen["name"].tolist() == ["a", "b"]
    assert chosen["qps"].tolist() == [3000, 4000]


def test_an_unreached_recall_names_the_adapter_and_its_best():
    frame = pd.DataFrame(
        [_point("a", [0.9] * 10, [0.1] * 10, 100), _point("b", [0.7] * 10, [0.1] * 10, 100)]
    )
    with pytest.raises(UserError, match=r"b reaches recall 0\.7000 at best"):
        fastest_at_recall(frame, 0.8, ["a", "b"], by="config")


def test_points_on_other_queries_are_refused():
    frame = pd.DataFrame(
        [
            _point("a", [1.0] * 10, [0.1] * 10, 100),
            _point("b", [1.0] * 10, [0.1] * 10, 100, dataset_hash="h2"),
        ]
    )
    with pytest.raises(UserError, match="not measured on the same queries"):
        fastest_at_recall(frame, 0.5, ["a", "b"], by="config")


def test_three_configurations_are_holm_corrected_over_their_pairs():
    rng = np.random.default_rng(4)
    n = 60
    base = rng.uniform(0.5, 1.5, size=n)
    frame = pd.DataFrame(
        [
            _point("a", rng.choice([0.9, 1.0], n), base, 100),
            _point("b", rng.choice([0.9, 1.0], n), base * 1.02 + rng.normal(0, 0.05, n), 100),
            _point("c", rng.choice([0.9, 1.0], n), base * 1.5, 100),
        ]
    )
    chosen, pairs = compare_at_recall(frame, 0.5, ["a", "b", "c"], by="config")
    assert len(pairs) == 6 and set(pairs["measure"]) == {"recall", "latency"}
    for _, group in pairs.groupby("measure"):
        assert group["p_holm"].to_numpy() == pytest.approx(holm(group["p"]))
        assert (group["p_holm"] >= group["p"]).all()
    assert (pairs["significant"] == ((pairs["p_holm"] < 0.05) & pairs["beyond_margin"])).all()
    latency = pairs[pairs["measure"] == "latency"].set_index(["a", "b"])
    # b is 2% slower than a on every query: a real difference between these runs, but
    # within the run-to-run drift margin, so not called significant
    assert latency.loc[("a", "b"), "p_holm"] < 0.05
    assert not latency.loc[("a", "b"), "beyond_margin"]
    assert not latency.loc[("a", "b"), "significant"]
    assert latency.loc[("a", "c"), "significant"] and latency.loc[("a", "c"), "effect_size"] == -1
    assert latency.loc[("a", "c"), "median_ratio"] == pytest.approx(1 / 1.5)
    # a pair alone is its own family: Holm leaves its p as it is
    alone = compare_points(chosen.iloc[:2])
    assert (alone["p_holm"] == alone["p"]).all()


# --- on real runs ------------------------------------------------------------------------------

HNSW = {"name": "hnswlib", "build": {"M": [8], "ef_construction": [40]}}
SINGLE = {"modes": ["single"], "repeats": 3, "build_threads": 1, "search_threads": [1]}


def _sweep(dataset, results, ef):
    entry = {**HNSW, "query": {"ef": ef}}
    experiment = parse_experiment({"datasets": [str(dataset)], "adapters": [entry], **SINGLE})
    outcomes = run_sweep(expand(experiment, dataset.parent), results, executor="inline")
    assert all(outcome.status == "ok" for outcome in outcomes)


@pytest.fixture
def hard_dataset(make_dataset):
    """Gaussian, 32 dimensions: a small ef loses much of the recall."""
    return make_dataset("gauss", generator="gauss", n=3000, dim=32, n_queries=60)


def test_per_query_latency_is_the_median_over_repeats(tmp_path, hard_dataset):
    from annbench.store.results import read_result, result_files

    _sweep(hard_dataset, tmp_path / "r", [40])
    (row,) = load_frame(tmp_path / "r", per_query=True).to_dict("records")
    (point,) = read_result(result_files(tmp_path / "r")[0]).points
    assert point.latencies_ns.shape == (3, 60)
    expected = np.median(point.latencies_ns, axis=0) / 1e6
    assert row["latency_per_query_ms"] == pytest.approx(expected)
    assert np.median(row["latency_per_query_ms"]) <= row["latency_p99_ms"]


def test_a_lower_ef_loses_recall_significantly(tmp_path, hard_dataset):
    _sweep(hard_dataset, tmp_path / "r", [10, 80])
    frame = load_frame(tmp_path / "r", per_query=True, data_dir=hard_dataset.parent)
    chosen, pairs = compare_at_recall(frame, 0.1, ["ef=10", "ef=80"], by="query_params")
    recall = pairs.set_index("measure").loc["recall"]
    assert chosen["recall"].iloc[0] < chosen["recall"].iloc[1] - 0.2
    assert recall["significant"] and recall["p"] < 1e-6
    assert recall["effect_size"] < -0.9 and recall["median_difference"] < 0


def test_the_same_configuration_run_twice_is_not_significantly_different(
    tmp_path, hard_dataset, cli
):
    for folder in ("old", "new"):
        _sweep(hard_dataset, tmp_path / folder, [40])
    compare = [
        "--data-dir", hard_dataset.parent, "--results-dir", tmp_path / "new", "compare",
        f"hnswlib@{tmp_path / 'old'}", "hnswlib", "--dataset", "gauss", "--recall", "0.5",
    ]  # fmt: skip
    status, out, err = cli(*compare, "--json")
    assert status == 0, err
    document = json.loads(out)
    assert [c["name"] for c in document["chosen"]] == [f"hnswlib@{tmp_path / 'old'}", "hnswlib"]
    pairs = {row["measure"]: row for row in document["pairs"]}
    # one seed, one build thread: the very same index, the very same answers
    assert pairs["recall"]["p"] == 1.0 and not pairs["recall"]["significant"]
    assert pairs["recall"]["n_nonzero"] == 0
    # latency between two runs of one configuration drifts by a few percent (see
    # docs/SIGNIFICANCE.md); Wilcoxon over the queries flags such drift now and then, and
    # the drift margin keeps it from being called a real difference
    assert 1 / 1.25 < pairs["latency"]["median_ratio"] < 1.25
    assert pairs["latency"]["beyond_margin"] is False
    assert not pairs["latency"]["significant"]
    status, out, _ = cli(*compare)
    assert status == 0
    recall_line = next(line for line in out.splitlines() if line.strip().startswith("recall "))
    assert "not significant" in recall_line and "0 of 60 queries differ" in recall_line


# --- bad input: one line, exit status 2 --------------------------------------------------------


@pytest.fixture
def one_run(tmp_path, hard_dataset):
    _sweep(hard_dataset, tmp_path / "results", [10])
    return tmp_path


@pytest.mark.parametrize(
    "args,expected",
    [
        (["hnswlib", "--dataset", "gauss", "--recall", "0.5"], "two adapters or more"),
        (["hnswlib", "faiss-flat", "--dataset", "gauss", "--recall", "0.5"], "no results for"),
        (["hnswlib", "hnswlib@{tmp}/results", "--dataset", "gauss", "--recall", "0.99"], "at best"),
        (["hnswlib", "hnswlib@{tmp}/absent", "--dataset", "gauss", "--recall", "0.5"], "not exist"),
        (["hnswlib", "hnswlib@{tmp}/results", "--dataset", "nope", "--recall", "0.5"], "unknown"),
        (["hnswlib", "hnswlib@{tmp}/results", "--dataset", "gauss", "--recall", "0"], "(0, 1]"),
        (["hnswlib", "hnswlib@{tmp}/results", "--dataset", "gauss", "--recall", "1.5"], "(0, 1]"),
        (["hnswlib", "hnswlib", "--dataset", "gauss", "--recall", "0.5"], "named once"),
        (["hnswlib", "hnswlib@", "--dataset", "gauss", "--recall", "0.5"], "no results folder"),
        (["hnswlib", "hnswlib@{tmp}/results", "--recall", "0.5"], "--dataset"),
    ],
)
def test_bad_input_is_one_line_and_exit_two(one_run, cli, args, expected):
    args = [a.replace("{tmp}", str(one_run)) for a in args]
    status, out, err = cli(
        "--data-dir", one_run / "datasets", "--results-dir", one_run / "results", "compare", *args
    )
    assert status == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert expected in err


def test_results_without_single_mode_are_refused(tmp_path, hard_dataset, cli):
    experiment = parse_experiment(
        {"datasets": [str(hard_dataset)], "adapters": [{**HNSW, "query": {"ef": [10]}}]}
    )
    run_sweep(expand(experiment, hard_dataset.parent), tmp_path / "r", executor="inline")
    status, _, err = cli(
        "--results-dir", tmp_path / "r", "compare", "hnswlib", f"hnswlib@{tmp_path / 'r'}",
        "--dataset", "gauss", "--recall", "0.1",
    )  # fmt: skip
    assert status == 2 and "no single-mode results" in err and len(err.splitlines()) == 1


# --- the insertion-order study: Welch's interval of the difference -----------------------------


def _order_frame(recalls_by_order):
    return pd.DataFrame(
        [
            {
                "dataset": "d",
                "adapter": "a",
                "query_params": "ef=10",
                "insertion_order": order,
                "seed": seed,
                "recall": recall,
                "status": "ok",
            }
            for order, recalls in recalls_by_order.items()
            for seed, recall in enumerate(recalls)
        ]
    )


def test_a_gap_beyond_the_orders_own_ci_is_not_significant_when_welch_says_no():
    # the baseline spreads widely, the order hardly: the gap (8 pp) exceeds the order's own CI
    # half-width (the old "beyond_ci" rule) but Welch's test finds no evidence (p ~ 0.3)
    table = order_effect(
        _order_frame({"random": [0.70, 0.80, 0.90], "lid-asc": [0.880, 0.881, 0.879]})
    ).set_index("order")
    row = table.loc["lid-asc"]
    assert abs(row["gap_pp"]) > 100 * row["ci95"]  # what the old rule called "beyond"
    assert row["p_welch"] > 0.05 and not row["significant"]
    assert row["gap_ci_low_pp"] < 0 < row["gap_ci_high_pp"]


def test_a_clear_gap_is_significant_with_an_interval_excluding_zero():
    table = order_effect(
        _order_frame({"random": [0.80, 0.81, 0.79], "lid-asc": [0.70, 0.71, 0.69]})
    ).set_index("order")
    row = table.loc["lid-asc"]
    assert row["significant"] and row["p_welch"] < 0.001
    assert row["gap_ci_low_pp"] < row["gap_pp"] < row["gap_ci_high_pp"] < 0
    # Welch-Satterthwaite by hand: equal variances 1e-4, n = 3 each -> df = 4
    se = np.sqrt(1e-4 / 3 + 1e-4 / 3)
    half = stats.t.ppf(0.975, 4) * se
    assert row["gap_ci_low_pp"] == pytest.approx(100 * (-0.1 - half))
    assert row["gap_ci_high_pp"] == pytest.approx(100 * (-0.1 + half))
    baseline = table.loc["random"]
    assert not baseline["significant"] and np.isnan(baseline["p_welch"])


def test_significant_is_exactly_p_below_005_and_the_interval_excluding_zero():
    rng = np.random.default_rng(5)
    orders = {"random": rng.normal(0.8, 0.02, 4)}
    orders |= {f"o{i}": rng.normal(0.8 + 0.01 * i, 0.02, 4) for i in range(8)}
    table = order_effect(_order_frame(orders))
    tested = table[table["order"] != "random"]
    excludes_zero = (tested["gap_ci_low_pp"] > 0) | (tested["gap_ci_high_pp"] < 0)
    assert (tested["significant"] == (tested["p_welch"] < 0.05)).all()
    assert (tested["significant"] == excludes_zero).all()
    assert tested["significant"].any() and not tested["significant"].all()


def test_too_few_seeds_or_no_spread_is_not_tested():
    table = order_effect(
        _order_frame({"random": [0.8, 0.8, 0.8], "one-seed": [0.5], "flat": [0.9, 0.9, 0.9]})
    ).set_index("order")
    for order in ("one-seed", "flat"):
        row = table.loc[order]
        assert np.isnan(row["p_welch"]) and np.isnan(row["gap_ci_low_pp"])
        assert not row["significant"]


def test_the_report_marks_pairs_the_test_does_not_support(tmp_path, hard_dataset):
    """Three adapters at recall 0.9 on the report's dataset page: every row is marked
    exactly as the library's test decides, and identical answers are never 'significant'."""
    import re

    from annbench.views.report.builder import build_report

    adapters = [
        {"name": "faiss-flat"},
        {"name": "sklearn", "build": {"algorithm": ["brute"]}},
        {**HNSW, "query": {"ef": [10, 200]}},
    ]
    experiment = parse_experiment(
        {"datasets": [str(hard_dataset)], "adapters": adapters, **SINGLE, "repeats": 2}
    )
    outcomes = run_sweep(expand(experiment, hard_dataset.parent), tmp_path / "r", executor="inline")
    assert all(outcome.status == "ok" for outcome in outcomes)
    frame = load_frame(tmp_path / "r", per_query=True, data_dir=hard_dataset.parent)
    names = sorted(frame["adapter"].unique())
    _, pairs = compare_at_recall(frame, 0.9, names)
    index = build_report(tmp_path / "r", tmp_path / "report", frame=frame)
    page = (index.parent / "dataset-gauss.html").read_text()
    assert "Is the difference real?" in page
    rows = re.findall(r'<tr class="(significant|not-significant)">(.*?)</tr>', page)
    assert len(rows) == len(pairs) == 6
    marks = {}
    for (marked, cells), (_, test) in zip(rows, pairs.iterrows()):
        assert (marked == "significant") == bool(test["significant"]), cells
        assert f"<td>{test['a']}</td><td>{test['b']}</td><td>{test['measure']}</td>" in cells
        marks[(test["a"], test["b"], test["measure"])] = marked
    # the two exact indexes return the same neighbours: their recall cannot differ
    assert marks[("faiss-flat", "sklearn", "recall")] == "not-significant"
