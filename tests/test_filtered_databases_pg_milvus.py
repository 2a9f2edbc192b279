"""pgvector and Milvus Lite filter in the database itself: real runs (an embedded PostgreSQL from
pgserver, an embedded Milvus Lite), no mocks. Each adapter answers every filter kind its spec
declares with only passing ids, padded where fewer than k pass, and with a high recall at a
generous search effort; a kind a spec does not declare is recorded as skipped, with the reason."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from annbench.adapters.registry import discover, load_adapter_class
from annbench.datasets.attributes import add_filter_workloads, make_attributes
from annbench.datasets.filters import QueryFilters
from annbench.datasets.groundtruth import save_with_ground_truth
from annbench.datasets.store import write_dataset
from annbench.datasets.synthetic import make_synthetic

from .conftest import absent

MODULES = {"pgvector": ["pgserver", "psycopg"], "milvus-lite": ["milvus_lite", "pymilvus"]}
ALGORITHMS = Path(__file__).resolve().parents[1] / "algorithms"

# adapter: (build grid, query grid at a generous search effort, builds answering exactly)
GENEROUS = {
    "pgvector": ({}, {"ef_search": [1000]}, ()),
    "milvus-lite": ({"index_type": ["AUTOINDEX", "FLAT"]}, {"ef": [1000]}, ("FLAT",)),
}
K = 10


def require(name: str) -> None:
    """Skip (fail in CI) unless the modules of this adapter are installed."""
    missing = [m for m in MODULES[name] if not importlib.util.find_spec(m)]
    if missing:
        absent(f"{', '.join(missing)} not installed (pip install -e '.[adapters]')")


@pytest.fixture(scope="module")
def filtered_dataset(tmp_path_factory) -> Path:
    """2000 blobs in 16 dimensions, 30 queries, and filter workloads of every kind: labels
    (the blobs, about 10% each), tags and ranges at 10% and 1%, uncorrelated with the queries."""
    params = {"n": 2000, "n_queries": 30, "dim": 16}
    dataset = make_synthetic("blobs", params, seed=0, metric="euclidean")
    path = tmp_path_factory.mktemp("datasets") / "filtered.hdf5"
    save_with_ground_truth(dataset, path, progress=False)
    add_filter_workloads(dataset, ["label"], [None], ["none"], seed=0)
    add_filter_workloads(dataset, ["tags", "range"], [0.1, 0.01], ["none"], seed=0, warn=print)
    kinds = {workload.filters.kind for workload in dataset.workloads.values()}
    assert kinds == {"label", "tags", "range"}, sorted(dataset.workloads)
    write_dataset(path, dataset, overwrite=True)
    return path


def run(experiment: dict, tmp_path: Path):
    """Expand and run an experiment in this process; (outcomes, the stored results' frame)."""
    from annbench.run.plan import expand, parse_experiment
    from annbench.run.runner import run_sweep
    from annbench.store.frame import load_frame

    jobs = expand(parse_experiment(experiment), tmp_path / "data")
    outcomes = run_sweep(jobs, tmp_path / "results", executor="inline")
    return outcomes, load_frame(tmp_path / "results")


@pytest.mark.parametrize("name", sorted(GENEROUS))
def test_every_declared_filter_kind_runs_natively_with_high_recall(
    name, filtered_dataset, tmp_path
):
    require(name)
    spec = discover()[name]
    assert set(spec.filters) == {"label", "tags", "range"}
    build, query, exact_builds = GENEROUS[name]
    experiment = {
        "datasets": [{"dataset": str(filtered_dataset), "workload": "all"}],
        "repeats": 1,
        "warmup": 0,
        "k": K,
        "adapters": [{"name": name, "build": build, "query": query}],
    }
    outcomes, frame = run(experiment, tmp_path)
    # ok: the harness found every returned id passing its query's filter (it fails the run
    # otherwise), for every workload and build
    assert [(o.job.workload, o.status, o.error) for o in outcomes] == [
        (o.job.workload, "ok", "") for o in outcomes
    ]
    assert set(frame["status"]) == {"ok"}
    assert set(frame["filter"]) == set(spec.filters)
    assert len(frame) == len(outcomes)  # one query point per build and workload
    for _, row in frame.iterrows():
        index_type = row.get("build.index_type")
        where = (row["workload"], index_type, row["recall"])
        if index_type in exact_builds:
            assert row["recall"] == 1.0, where
        else:
            assert row["recall"] >= 0.9, where


@pytest.mark.parametrize("name", sorted(GENEROUS))
def test_filtered_search_pads_and_keeps_original_ids(name):
    """The adapter itself, built in a shuffled order: every answer passes its filter, is the
    passing rows' nearest (the search effort covers the whole base), nearest first, and padded
    with -1 where fewer than k pass, down to a filter nothing passes."""
    require(name)
    spec = discover()[name]
    dataset = make_synthetic("blobs", {"n": 400, "n_queries": 8, "dim": 8}, seed=1)
    attributes = make_attributes(dataset, seed=1, n_labels=5)
    base = np.ascontiguousarray(dataset.base, dtype=np.float32)
    order = np.random.default_rng(2).permutation(len(base))
    nq = len(dataset.queries)
    few = np.sort(attributes.value)[100]  # a range three values wide: at most 3 pass
    pair = next(i for i in range(attributes.n) if len(attributes.tags_of(i)) >= 2)
    a, b = attributes.tags_of(pair)[:2]
    single = attributes.tags_of(pair)[0]
    cases = [
        QueryFilters("label", [q % 5 for q in range(nq - 1)] + [10**6]),  # the last: none
        QueryFilters("range", [[0, attributes.n // 2]] * (nq // 2) + [[few, few + 3]] * (nq // 2)),
        QueryFilters("tags", [[a, b]] * (nq // 2) + [[single, -1]] * (nq // 2)),
    ]
    assert 0 < len(cases[1].passing(attributes, nq - 1)) < K
    assert len(cases[0].passing(attributes, nq - 1)) == 0
    build, query, _ = GENEROUS[name]
    params = {key: values[-1] for key, values in build.items()}
    adapter = load_adapter_class(spec.module_path, spec.class_name)("euclidean", **params)
    adapter.attributes = attributes
    adapter.build(base[order], order)
    try:
        adapter.set_query_params(**{key: values[-1] for key, values in query.items()})
        for filters in cases:
            ids, distances = adapter.filtered_search(dataset.queries, K, filters)
            assert ids.shape == distances.shape == (nq, K)
            for i in range(nq):
                passing = filters.passing(attributes, i)
                gaps = np.linalg.norm(dataset.base[passing] - dataset.queries[i], axis=1)
                nearest = passing[np.argsort(gaps, kind="stable")[:K]]
                found = ids[i][ids[i] >= 0]
                where = (filters.kind, filters.describe(i), ids[i].tolist())
                assert filters.passes(attributes, i, ids[i]).all(), where
                assert len(found) == min(K, len(passing)), where
                assert (ids[i][len(found) :] == -1).all(), where
                assert np.all(np.diff(distances[i][: len(found)]) >= -1e-5), where
                assert len(set(found.tolist()) & set(nearest.tolist())) >= 0.9 * len(nearest)
    finally:
        adapter.close()


def test_a_kind_the_spec_does_not_declare_is_skipped_with_the_reason(
    filtered_dataset, tmp_path, monkeypatch
):
    """A copy of milvus-lite whose spec declares label filters only: its label workload runs,
    its other workloads are stored as skipped, naming the kind and the way out."""
    require("milvus-lite")
    folder = tmp_path / "algorithms" / "milvus-labels"
    shutil.copytree(ALGORITHMS / "milvus-lite", folder)
    spec_file = folder / "spec.yml"
    spec = yaml.safe_load(spec_file.read_text())
    spec.update(name="milvus-labels", filters=["label"])
    spec_file.write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("ANNBENCH_ALGORITHMS_PATH", str(tmp_path / "algorithms"))
    experiment = {
        "datasets": [
            {"dataset": str(filtered_dataset), "workloads": ["label-sany-none", "range-s0.1-none"]}
        ],
        "repeats": 1,
        "warmup": 0,
        "adapters": [{"name": "milvus-labels", "build": {"index_type": ["FLAT"]}}],
    }
    outcomes, frame = run(experiment, tmp_path)
    status = {o.job.workload: (o.status, o.error) for o in outcomes}
    assert status["label-sany-none"] == ("ok", "")
    skipped, reason = status["range-s0.1-none"]
    assert skipped == "skipped"
    assert "cannot filter by range" in reason and "postfilter" in reason, reason
    stored = frame.set_index("workload")
    assert stored.loc["range-s0.1-none", "status"] == "skipped"
    assert "cannot filter by range" in stored.loc["range-s0.1-none", "error"]
    assert set(stored.loc[["label-sany-none"], "recall"]) == {1.0}  # FLAT: exact
