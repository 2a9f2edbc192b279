"""The ready-made studies, run for real on tiny data through the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd

from annbench.analysis.compare import mean_confidence_interval, order_effect


def test_mean_confidence_interval_on_a_known_sample():
    mean, half = mean_confidence_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.3027, sd = 1, sem = 1 / sqrt(3)
    assert mean == 2.0
    assert abs(half - 4.302653 / np.sqrt(3)) < 1e-5
    assert mean_confidence_interval([5.0]) == (5.0, 0.0)


def _frame(recalls_by_order):
    rows = []
    for order, recalls in recalls_by_order.items():
        for seed, recall in enumerate(recalls):
            rows.append(
                {
                    "dataset": "d",
                    "adapter": "a",
                    "query_params": "ef=10",
                    "insertion_order": order,
                    "seed": seed,
                    "recall": recall,
                    "status": "ok",
                }
            )
    return pd.DataFrame(rows)


def test_order_effect_gap_and_significance():
    table = order_effect(
        _frame(
            {
                "random": [0.80, 0.81, 0.79],
                "lid-asc": [0.70, 0.71, 0.69],
                "reverse": [0.78, 0.83, 0.80],
            }
        )
    ).set_index("order")
    assert abs(table.loc["lid-asc", "gap_pp"] - (-10.0)) < 1e-9
    assert table.loc["lid-asc", "significant"] and table.loc["lid-asc", "p_welch"] < 0.001
    assert not table.loc["reverse", "significant"] and table.loc["reverse", "p_welch"] > 0.5
    assert table.loc["random", "gap_pp"] == 0 and not table.loc["random", "significant"]


def test_order_study_command(tmp_path, cli, make_dataset):
    path = make_dataset("study", n=1500, n_queries=40, dim=8, n_clusters=4)
    results = tmp_path / "results"
    status, out, err = cli(
        "--data-dir",
        path.parent,
        "--results-dir",
        results,
        "experiment",
        "order",
        "study",
        "--seeds",
        "2",
        "--orders",
        "random,label-grouped,lid-desc",
        "--ef",
        "10",
    )
    assert status == 0, err
    table = pd.read_csv(results / "studies" / "order-study.csv")
    assert set(table["order"]) == {"random", "label-grouped", "lid-desc"}
    assert set(table["adapter"]) == {"hnswlib", "faiss-hnsw"}
    assert (table["seeds"] == 2).all() and table["recall"].between(0, 1).all()
    assert (results / "studies" / "order-study.png").stat().st_size > 1000
    assert "gap_pp" in out and "significant" in out and "beyond_ci" not in out
    assert {"gap_ci_low_pp", "gap_ci_high_pp", "p_welch", "significant"} <= set(table.columns)


def test_order_study_needs_two_seeds(tmp_path, cli, make_dataset):
    path = make_dataset("one")
    status, _, err = cli("--data-dir", path.parent, "experiment", "order", "one", "--seeds", "1")
    assert status == 2 and "at least 2" in err


def test_intrinsic_dim_command_shows_recall_falling(tmp_path, cli):
    data, results = tmp_path / "data", tmp_path / "results"
    status, out, err = cli(
        "--data-dir",
        data,
        "--results-dir",
        results,
        "experiment",
        "intrinsic-dim",
        "--dims",
        "2,32",
        "--ambient",
        "48",
        "--n",
        "4000",
        "--n-queries",
        "100",
        "--ef",
        "10",
    )
    assert status == 0, err
    (csv,) = (results / "studies").glob("intrinsic-dim-*.csv")
    table = pd.read_csv(csv)
    low = table[table["d_int"] == 2]
    high = table[table["d_int"] == 32]
    assert (low["pca99"] == 2).all() and (high["pca99"] == 32).all()
    assert low["recall"].mean() > high["recall"].mean() + 0.05
    assert len(list(data.glob("subspace-D48-*.hdf5"))) == 2
