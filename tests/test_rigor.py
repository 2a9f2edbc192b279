"""Measurement rigor: repeats and their statistics, modes, threads, seeds, memory, manifest."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pandas as pd
import pytest

from annbench.analysis.metrics import latency_summary, recall_distribution, timing_summary
from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame
from annbench.store.results import read_result

from .conftest import TEST_ALGORITHMS


def test_timing_summary_on_a_known_sample():
    # three passes over 1000 queries: 1.0 s, 2.0 s, 3.0 s
    summary = timing_summary([1e9, 2e9, 3e9], 1000)
    assert summary["qps"] == pytest.approx(500.0)  # from the median pass
    assert summary["qps_min"] == pytest.approx(1000 / 3)
    assert summary["qps_max"] == pytest.approx(1000.0)
    # three passes are too few for an interval (t = 4.3 would reach below 0 s): none is given
    assert np.isnan(summary["qps_ci_low"]) and np.isnan(summary["qps_ci_high"])
    assert summary["cv"] == pytest.approx(0.5)
    steady = timing_summary([1.00e9, 1.01e9, 0.99e9, 1.0e9, 1.0e9], 100)
    # five passes: mean 1.0 s, sd 0.00707 s, t(0.975, 4) = 2.776445
    half = 2.776445 * np.std([1.00, 1.01, 0.99, 1.0, 1.0], ddof=1) / np.sqrt(5)
    assert steady["qps_ci_low"] == pytest.approx(100 / (1.0 + half))
    assert steady["qps_ci_high"] == pytest.approx(100 / (1.0 - half))
    assert steady["qps_ci_low"] < steady["qps"] < steady["qps_ci_high"] < 105


def test_no_interval_is_shown_that_would_mean_nothing():
    """Below five passes, or where the interval reaches 0 s or past 10x the median, the
    figures say so with NaN (tables then show min-max) instead of inf or a wild bound."""
    few = timing_summary([1.00e9, 1.01e9, 0.99e9, 1.0e9], 100)
    assert np.isnan(few["qps_ci_low"]) and np.isnan(few["qps_ci_high"])
    wild = timing_summary([1e9, 1e9, 1e9, 1e9, 30e9], 100)
    assert np.isnan(wild["qps_ci_high"]) and np.isnan(wild["qps_ci_low"])


def test_cv_flag_fires_on_noise_and_not_on_a_steady_sample():
    rng = np.random.default_rng(3)
    steady = 1e8 * (1 + rng.normal(0, 0.01, size=10))
    noisy = 1e8 * (1 + np.abs(rng.normal(0, 0.5, size=10)))
    assert not timing_summary(steady, 100)["unstable"]
    assert timing_summary(noisy, 100)["unstable"]


def test_latency_percentiles_and_recall_distribution():
    latencies = np.arange(1, 1001).reshape(1, -1) * 1_000_000  # 1..1000 ms
    summary = latency_summary(latencies)
    assert summary["latency_p50_ms"] == pytest.approx(500.5)
    assert summary["latency_p99_ms"] == pytest.approx(990.01)
    assert summary["latency_mean_ms"] == pytest.approx(500.5)
    assert np.isnan(latency_summary(None)["latency_p95_ms"])
    shares = recall_distribution(np.array([0.0, 0.0, 0.5, 1.0]))
    assert shares["recall_zero_share"] == 0.5 and shares["recall_full_share"] == 0.25


def sweep(tmp_path, dataset, adapters, executor="inline", **options):
    experiment = parse_experiment({"datasets": [str(dataset)], "adapters": adapters, **options})
    jobs = expand(experiment, tmp_path / "datasets")
    return run_sweep(jobs, tmp_path / "results", executor=executor)


def test_repeats_modes_and_threads_are_stored(tmp_path, make_dataset):
    outcomes = sweep(
        tmp_path,
        make_dataset(),
        [{"name": "hnswlib", "query": {"ef": [20]}}],
        repeats=4,
        modes=["batch", "single"],
        search_threads=[1, 2],
    )
    result = read_result(outcomes[0].path)
    assert [(p.mode, p.search_threads) for p in result.points] == [
        ("batch", 1),
        ("batch", 2),
        ("single", 1),
        ("single", 2),
    ]
    for point in result.points:
        assert len(point.search_times_ns) == 4
        if point.mode == "single":
            assert point.latencies_ns.shape == (4, 50)
            assert point.search_times_ns == point.latencies_ns.sum(axis=1).tolist()
        else:
            assert point.latencies_ns is None
    frame = load_frame(tmp_path / "results")
    assert frame["recall"].nunique() == 1  # the same index answers the same in every mode
    single = frame[frame["mode"] == "single"]
    assert (single["latency_p50_ms"] <= single["latency_p99_ms"]).all()
    assert frame[frame["mode"] == "batch"]["latency_p50_ms"].isna().all()


@pytest.mark.parametrize(
    "adapter,query", [("hnswlib", {"ef": [10]}), ("faiss-hnsw", {"ef_search": [10]})]
)
def test_same_seed_same_order_single_thread_build_gives_identical_ids(
    tmp_path, make_dataset, adapter, query
):
    path = make_dataset(generator="gauss", n=4000, dim=24)
    entry = [{"name": adapter, "build": {"M": [8], "ef_construction": [40]}, "query": query}]
    options = {"build_threads": 1, "orders": ["random"], "seeds": [5], "repeats": 1}
    first = sweep(tmp_path / "a", path, entry, **options)
    second = sweep(tmp_path / "b", path, entry, **options)
    other_seed = sweep(tmp_path / "c", path, entry, **{**options, "seeds": [6]})
    ids = [read_result(o[0].path).points[0].ids for o in (first, second, other_seed)]
    assert np.array_equal(ids[0], ids[1])
    assert not np.array_equal(ids[0], ids[2])  # the seed reaches the build


def test_seed_spread_summarises_builds(tmp_path, make_dataset, cli):
    sweep(
        tmp_path,
        make_dataset(),
        [{"name": "hnswlib", "query": {"ef": [10]}}],
        seeds=[0, 1, 2],
        build_threads=1,
        repeats=1,
    )
    status, out, _ = cli(
        "--results-dir", tmp_path / "results", "results", "--spread", "--format", "json"
    )
    (row,) = json.loads(out)
    assert status == 0 and row["seeds"] == 3
    assert row["recall_min"] <= row["recall_mean"] <= row["recall_max"]


def test_peak_memory_grows_with_dataset_size(tmp_path, make_dataset):
    small = make_dataset("small", generator="gauss", n=10_000, dim=64)
    large = make_dataset("large", generator="gauss", n=200_000, dim=64, n_queries=20)
    peaks = {}
    for name, path in (("small", small), ("large", large)):
        (outcome,) = sweep(tmp_path / name, path, ["faiss-flat"], executor="process", repeats=1)
        result = read_result(outcome.path)
        peaks[name] = result.peak_rss_bytes
        assert result.index_memory_bytes >= len(h5py.File(path)["train"]) * 64 * 4
    # the large base alone is 51 MB; the index copies it once more
    assert peaks["large"] - peaks["small"] > 60_000_000


def test_exports_and_manifest(tmp_path, make_dataset, cli):
    outcomes = sweep(tmp_path, make_dataset(), ["faiss-flat"], repeats=2)
    environment = read_result(outcomes[0].path).environment
    for key in ("cpu_model", "cpu_flags", "memory_bytes", "kernel", "packages", "thread_pools"):
        assert environment[key], key
    assert environment["packages"]["faiss-cpu"] != "not installed"
    results = tmp_path / "results"
    status, out, _ = cli(
        "--results-dir", results, "results", "--format", "parquet", "--out", tmp_path / "r.parquet"
    )
    assert status == 0
    table = pd.read_parquet(tmp_path / "r.parquet")
    assert {"qps_ci_low", "cv", "recall_zero_share", "peak_rss_bytes"} <= set(table.columns)
    status, out, _ = cli("--results-dir", results, "results", "--format", "csv")
    assert pd.read_csv(__import__("io").StringIO(out))["recall"].tolist() == [1.0]
    status, out, _ = cli("--results-dir", results, "results", "--format", "parquet")
    assert status == 2
    status, out, _ = cli("env", "--json")
    manifest = json.loads(out)
    assert status == 0 and manifest["cpu_count"] >= 1 and manifest["thread_pools"]


def test_result_of_schema_one_still_loads(tmp_path, make_dataset):
    outcomes = sweep(tmp_path, make_dataset(), ["faiss-flat"], repeats=1)
    with h5py.File(outcomes[0].path, "a") as f:
        f.attrs["schema_version"] = 1
        for group in f["points"].values():
            del group.attrs["mode"], group.attrs["search_threads"]
    frame = load_frame(tmp_path / "results")
    assert frame["mode"].tolist() == ["batch"] and frame["recall"].tolist() == [1.0]


def test_an_adapter_entry_may_name_its_own_seeds(tmp_path, make_dataset):
    path = make_dataset()
    entries = ["faiss-flat", {"name": "hnswlib", "seeds": [3, 4, 5]}]
    experiment = parse_experiment({"datasets": [str(path)], "adapters": entries, "seeds": [1]})
    jobs = expand(experiment, tmp_path)
    assert sorted((job.adapter, job.seed) for job in jobs) == [
        ("faiss-flat", 1),
        ("hnswlib", 3),
        ("hnswlib", 4),
        ("hnswlib", 5),
    ]
    assert len({job.run_id for job in jobs}) == 4


@pytest.mark.parametrize("seeds", [[], [-1], ["zero"], [1.5], [True]])
@pytest.mark.parametrize("level", ["experiment", "adapter"])
def test_bad_seeds_are_refused(seeds, level):
    from annbench.errors import UserError

    raw = {"datasets": ["x"], "adapters": [{"name": "hnswlib", "seeds": seeds}]}
    if level == "experiment":
        raw = {"datasets": ["x"], "adapters": ["hnswlib"], "seeds": seeds}
    expected = "the list is empty" if not seeds else "takes non-negative integers"
    with pytest.raises(UserError, match=f"'seeds'.* {expected}"):
        parse_experiment(raw)


def test_smoke_suite_builds_unrepeatable_adapters_several_times():
    from annbench.adapters.registry import discover
    from annbench.run.plan import UNREPEATABLE_BUILDS, smoke_experiment

    registry = discover([TEST_ALGORITHMS])
    fickle = dataclasses.replace(registry["fickle"], repeatable=False)
    experiment = smoke_experiment({"recorder": registry["recorder"], "fickle": fickle})
    seeds = {entry["name"]: entry.get("seeds", experiment.seeds) for entry in experiment.adapters}
    assert seeds == {"fickle": list(range(UNREPEATABLE_BUILDS)), "recorder": [0]}
    assert {spec.name for spec in discover().values() if not spec.repeatable} >= {"chroma"}
