"""The workload layer: today's static sweep as the first workload, unchanged in its answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np

from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.results import read_result

DATA = Path(__file__).parent / "data"

# the run tests/data/seeded-run-ids.npz was recorded from, with annbench as it was before the
# workload layer (commit 7eb5e80): its dataset file is beside it
SEEDED_RUN = {
    "k": 10,
    "repeats": 1,
    "warmup": 0,
    "seeds": [3],
    "build_threads": [1],
    "search_threads": [1],
    "modes": ["batch", "single"],
    "orders": ["original", "random"],
    "adapters": [
        "faiss-flat",
        {"name": "hnswlib", "build": {"M": [8]}, "query": {"ef": [10, 40]}},
        {
            "name": "faiss-hnsw",
            "build": {"M": [8], "add_batch_size": [1]},
            "query": {"ef_search": [10]},
        },
        {"name": "faiss-ivf", "build": {"nlist": [16]}, "query": {"nprobe": [1, 4]}},
        {"name": "annoy", "build": {"n_trees": [5]}, "query": {"search_k": [50]}},
    ],
}


def test_a_seeded_run_gives_the_ids_it_gave_before_the_workload_layer(tmp_path):
    dataset = shutil.copy(DATA / "seeded-run.hdf5", tmp_path / "seeded-run.hdf5")
    experiment = parse_experiment({"datasets": [str(dataset)], **SEEDED_RUN})
    outcomes = run_sweep(expand(experiment, tmp_path), tmp_path / "results")
    recorded = np.load(DATA / "seeded-run-ids.npz")
    seen = set()
    for outcome in outcomes:
        assert outcome.status == "ok", outcome.error
        for point in read_result(outcome.path).points:
            params = sorted(point.query_params.items())
            key = f"{outcome.job.adapter}|{outcome.job.insertion_order}|{params}|{point.mode}"
            assert np.array_equal(point.ids, recorded[key]), key
            seen.add(key)
    assert seen == set(recorded.files)


# --- filtered search -------------------------------------------------------------------------

import pytest  # noqa: E402

from annbench.datasets.attributes import (  # noqa: E402
    add_filter_workloads,
    filtered_ground_truth,
    make_attributes,
    make_filter_workload,
)
from annbench.datasets.filters import QueryFilters  # noqa: E402
from annbench.datasets.synthetic import make_synthetic  # noqa: E402


def brute_force_filtered(dataset, attributes, filters, k):
    """float64 numpy: for each query, the passing vectors sorted by (distance, id)."""
    base = dataset.base.astype(np.float64)
    queries = dataset.queries.astype(np.float64)
    if dataset.metric == "angular":
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    ids = np.full((len(queries), k), -1)
    for i, query in enumerate(queries):
        passing = np.flatnonzero(filters.mask(attributes, i))
        if dataset.metric == "euclidean":
            distance = np.sqrt(((base[passing] - query) ** 2).sum(axis=1))
        elif dataset.metric == "angular":
            distance = 1 - base[passing] @ query
        else:
            distance = -(base[passing] @ query)
        order = np.lexsort((passing, distance))[:k]
        ids[i, : len(order)] = passing[order]
    return ids


@pytest.mark.parametrize("metric", ["euclidean", "angular", "ip"])
@pytest.mark.parametrize("kind", ["label", "tags", "range"])
def test_filtered_ground_truth_equals_a_numpy_brute_force(metric, kind):
    dataset = make_synthetic("blobs", {"n": 1500, "n_queries": 30, "dim": 8}, seed=1, metric=metric)
    attributes = make_attributes(dataset, seed=1, n_labels=12, vocabulary=16)
    rng = np.random.default_rng(5)
    if kind == "label":
        values = rng.integers(0, 10, size=30)
    elif kind == "tags":
        values = np.stack([rng.integers(0, 4, 30), np.where(rng.random(30) < 0.5, -1, 5)], 1)
    else:
        lo = rng.integers(0, 1400, size=30)
        values = np.stack([lo, lo + rng.integers(1, 300, size=30)], 1)
    filters = QueryFilters(kind, values)
    ids, distances = filtered_ground_truth(dataset, attributes, filters, k=50)
    np.testing.assert_array_equal(ids, brute_force_filtered(dataset, attributes, filters, 50))
    for i in range(len(filters)):
        assert filters.passes(attributes, i, ids[i]).all()
        assert np.all(np.diff(distances[i][ids[i] >= 0]) >= 0)


@pytest.fixture(scope="module")
def dataset_10k():
    from annbench.datasets.groundtruth import with_ground_truth

    dataset = make_synthetic(
        "blobs", {"n": 12000, "n_queries": 60, "dim": 16, "n_clusters": 12}, seed=3
    )
    with_ground_truth(dataset, 100, progress=False)
    return dataset, make_attributes(dataset, seed=3)


@pytest.mark.parametrize("kind", ["range", "tags"])
@pytest.mark.parametrize("selectivity", [0.5, 0.1, 0.01])
def test_selectivity_is_reached_and_correlation_orders_alpha(dataset_10k, kind, selectivity):
    dataset, attributes = dataset_10k
    alpha = {}
    for correlation in ("positive", "none", "negative"):
        workload = make_filter_workload(dataset, attributes, kind, selectivity, correlation)
        realised = workload.selectivity.mean()
        assert abs(realised - selectivity) <= 0.1 * selectivity, (correlation, realised)
        alpha[correlation] = np.mean(workload.alpha[workload.alpha > 0])
        for i in range(len(workload.filters)):  # every ground-truth id passes its filter
            assert workload.filters.passes(attributes, i, workload.neighbors[i]).all()
    if not (kind == "tags" and selectivity == 0.5):  # one tag covers half: one candidate
        assert alpha["positive"] < alpha["none"] < alpha["negative"], alpha


def test_labels_any_selectivity_follows_the_query_neighbourhood(dataset_10k):
    dataset, attributes = dataset_10k
    near = make_filter_workload(dataset, attributes, "label", None, "positive")
    far = make_filter_workload(dataset, attributes, "label", None, "negative")
    assert np.median(near.alpha[near.alpha > 0]) < np.median(far.alpha[far.alpha > 0])


@pytest.fixture(scope="module")
def filtered_file(tmp_path_factory):
    """A small dataset file with every kind of filter workload, at two selectivities."""
    from annbench.datasets.groundtruth import save_with_ground_truth
    from annbench.datasets.store import load_dataset, write_dataset

    folder = tmp_path_factory.mktemp("filtered")
    path = save_with_ground_truth(
        make_synthetic("blobs", {"n": 3000, "n_queries": 40, "dim": 16}, seed=2),
        folder / "filtered.hdf5",
        progress=False,
    )
    dataset = load_dataset(path)
    add_filter_workloads(dataset, ["range", "tags"], [0.1, 0.01], ["none", "negative"])
    add_filter_workloads(dataset, ["label"], [None], ["positive", "negative"])
    write_dataset(path, dataset, overwrite=True)
    return path


def test_exact_search_with_a_filter_has_recall_1_on_every_filter_workload(tmp_path, filtered_file):
    from annbench.store.frame import load_frame

    experiment = parse_experiment(
        {
            "datasets": [{"dataset": str(filtered_file), "workload": "all"}],
            "repeats": 1,
            "modes": ["batch", "single"],
            "adapters": ["faiss-flat"],
        }
    )
    from annbench.datasets.store import dataset_info

    workloads = dataset_info(filtered_file)["workloads"]
    assert len(workloads) >= 8
    jobs = expand(experiment, tmp_path)
    assert {job.workload for job in jobs} == set(workloads)
    outcomes = run_sweep(jobs, tmp_path / "results")
    assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes]
    frame = load_frame(tmp_path / "results")
    assert (frame["recall"] == 1.0).all() and len(frame) == 2 * len(workloads)
    assert set(frame["filter"]) == {"label", "tags", "range"}


def test_post_filtering_loses_recall_where_the_passing_vectors_are_far(tmp_path, filtered_file):
    from annbench.store.frame import load_frame

    experiment = parse_experiment(
        {
            "datasets": [
                {
                    "dataset": str(filtered_file),
                    "workloads": ["range-s0.01-negative", "range-s0.1-none"],
                }
            ],
            "repeats": 1,
            "adapters": [
                {"name": "faiss-flat", "strategy": "postfilter", "overfetch": [1, 1000]},
                {"name": "hnswlib", "query": {"ef": [200]}},
            ],
        }
    )
    outcomes = run_sweep(expand(experiment, tmp_path), tmp_path / "results")
    assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes]
    frame = load_frame(tmp_path / "results").set_index(["workload", "label", "query_params"])
    post = "postfilter(faiss-flat)"
    # over-fetching everything is exact; k / selectivity misses the far passing vectors
    assert frame.loc[("range-s0.01-negative", post, "overfetch=1000")]["recall"] == 1.0
    assert frame.loc[("range-s0.01-negative", post, "overfetch=1")]["recall"] < 0.5
    native = frame.xs("hnswlib(M=16, ef_construction=128)", level="label")
    assert (native["recall"] > 0.9).all()


def test_filtered_runs_record_their_workload_and_skip_what_an_adapter_cannot_do(
    tmp_path, filtered_file, cli
):
    spec = tmp_path / "spec.yml"
    spec.write_text(
        "datasets: [{dataset: " + str(filtered_file) + ", workload: range-s0.1-none}]\n"
        "repeats: 1\nadapters: [annoy, faiss-flat]\n"
    )
    status, out, err = cli("--results-dir", tmp_path / "results", "run", spec)
    assert status == 0, err
    assert "skipped: annoy cannot filter by range" in out
    status, out, _ = cli("--results-dir", tmp_path / "results", "results", "--format", "json")
    rows = {row["adapter"]: row for row in __import__("json").loads(out)}
    assert rows["annoy"]["status"] == "skipped" and "postfilter" in rows["annoy"]["error"]
    assert rows["faiss-flat"]["workload"] == "range-s0.1-none"
    assert rows["faiss-flat"]["target_selectivity"] == 0.1
    assert rows["faiss-flat"]["correlation"] == "none"
    assert abs(rows["faiss-flat"]["selectivity"] - 0.1) < 0.01


@pytest.mark.parametrize(
    "args,contains",
    [
        (["datasets", "filters", "DATA", "--selectivities", "1.5"], "outside (0, 1]"),
        (["datasets", "filters", "DATA", "--selectivities", "0"], "outside (0, 1]"),
        (["datasets", "filters", "DATA", "--kinds", "colour"], "filter kind colour"),
        (["datasets", "filters", "DATA", "--kinds", "range", "--selectivities", "any"], "range"),
    ],
)
def test_bad_filter_requests_are_one_line(tmp_path, filtered_file, cli, args, contains):
    copy = shutil.copy(filtered_file, tmp_path / "mine.hdf5")
    before = Path(copy).read_bytes()
    args = [str(copy) if a == "DATA" else a for a in args]
    status, _, err = cli("--data-dir", tmp_path, *args)
    assert status == 2 and contains in err and len(err.strip().splitlines()) == 1, err
    assert Path(copy).read_bytes() == before


def test_an_unknown_workload_is_one_line(tmp_path, filtered_file, cli):
    spec = tmp_path / "spec.yml"
    spec.write_text(
        f"datasets: [{{dataset: {filtered_file}, workload: nope}}]\nadapters: [faiss-flat]\n"
    )
    status, _, err = cli("--results-dir", tmp_path / "r", "run", spec)
    assert status == 2 and "has no workload 'nope'" in err and "range-s0.1-none" in err


def test_a_workload_needing_an_attribute_the_file_lacks_is_one_line(tmp_path, filtered_file, cli):
    copy = Path(shutil.copy(filtered_file, tmp_path / "bare.hdf5"))
    with h5py.File(copy, "r+") as f:
        del f["attributes/value"]
    spec = tmp_path / "spec.yml"
    spec.write_text(
        f"datasets: [{{dataset: {copy}, workload: range-s0.1-none}}]\nadapters: [faiss-flat]\n"
    )
    status, out, err = cli("--results-dir", tmp_path / "r", "run", spec)
    assert status == 2 and len(err.strip().splitlines()) == 1, out + err
    assert "attribute 'value'" in err and "Traceback" not in err
