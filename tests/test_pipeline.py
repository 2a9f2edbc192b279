"""End to end: dataset file -> plan -> executor -> worker -> result file -> frame."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from annbench.datasets.groundtruth import exact_knn
from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame

from .conftest import ann_benchmarks_file


def sweep(tmp_path, datasets, adapters, executor="inline", **options):
    experiment = parse_experiment(
        {"datasets": datasets, "adapters": adapters, "repeats": 1, **options}
    )
    jobs = expand(experiment, tmp_path / "datasets")
    outcomes = run_sweep(jobs, tmp_path / "results", executor=executor)
    return jobs, outcomes, load_frame(tmp_path / "results")


@pytest.mark.parametrize("metric", ["euclidean", "angular", "ip"])
@pytest.mark.parametrize("generator", ["gauss", "blobs"])
def test_exact_adapter_has_recall_one_on_every_generated_dataset(
    tmp_path, make_dataset, generator, metric
):
    path = make_dataset(f"{generator}-{metric}", generator=generator, metric=metric)
    _, outcomes, frame = sweep(tmp_path, [str(path)], ["faiss-flat"], k=10)
    assert [o.status for o in outcomes] == ["ok"]
    assert frame["recall"].tolist() == [1.0]
    assert frame["recall_tolerant"].tolist() == [1.0]


def test_hnswlib_recall_rises_with_ef(tmp_path, make_dataset):
    path = make_dataset("hard", generator="gauss", n=5000, dim=32, n_queries=200)
    efs = [10, 20, 40, 160]  # hnswlib searches with max(ef, k)
    adapters = [
        {"name": "hnswlib", "build": {"M": [4], "ef_construction": [16]}, "query": {"ef": efs}}
    ]
    _, _, frame = sweep(tmp_path, [str(path)], adapters, k=10)
    recalls = frame.sort_values("query.ef")["recall"].to_numpy()
    assert len(recalls) == len(efs)
    assert np.all(np.diff(recalls) > 0), recalls
    assert recalls[-1] - recalls[0] > 0.2


def test_every_adapter_runs_through_subprocess_and_stores_raw_arrays(tmp_path, make_dataset):
    path = make_dataset("small")
    adapters = [
        "faiss-flat",
        {"name": "faiss-ivf", "build": {"nlist": [16]}, "query": {"nprobe": [1, 16]}},
        {"name": "faiss-hnsw", "query": {"ef_search": [10, 80]}},
        {"name": "hnswlib", "query": {"ef": [10, 80]}},
    ]
    jobs, outcomes, frame = sweep(tmp_path, [str(path)], adapters, executor="process", k=5)
    assert [o.status for o in outcomes] == ["ok"] * 4
    assert len(frame) == 1 + 2 + 2 + 2
    assert (frame["qps"] > 0).all() and (frame["build_time_s"] >= 0).all()
    for adapter, rows in frame[frame["adapter"] != "faiss-flat"].groupby("adapter"):
        assert rows["recall"].max() > 0.95, adapter
    with h5py.File(outcomes[1].path) as f:
        assert f["points/0/ids"].shape == (50, 5)
        assert f["points/0/search_times_ns"].shape == (1,)
        assert f["ground_truth/ids"].shape == (50, 5)


def test_file_written_with_plain_h5py_in_ann_benchmarks_layout_loads_and_runs(tmp_path):
    rng = np.random.default_rng(7)
    train = rng.normal(size=(1500, 12))
    test = rng.normal(size=(30, 12))
    neighbors, distances = exact_knn(train, test, "euclidean", 100, progress=False)
    path = tmp_path / "plain.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "euclidean"
        f.attrs["point_type"] = "float"
        f.attrs["dimension"] = 12
        f.attrs["type"] = "dense"
        f.create_dataset("train", data=train)
        f.create_dataset("test", data=test)
        f.create_dataset("neighbors", data=neighbors.astype(np.int32))
        f.create_dataset("distances", data=distances.astype(np.float64))
    _, outcomes, frame = sweep(tmp_path, [str(path)], ["faiss-flat"], k=10)
    assert outcomes[0].status == "ok"
    assert frame["recall"].iloc[0] == 1.0


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_real_ann_benchmarks_file_runs_with_exact_recall(tmp_path, metric):
    path = ann_benchmarks_file(metric)
    _, outcomes, frame = sweep(tmp_path, [str(path)], ["faiss-flat"], k=10)
    assert outcomes[0].status == "ok"
    assert frame["recall_tolerant"].iloc[0] == 1.0
    assert frame["recall"].iloc[0] >= 0.999


def test_stored_runs_are_skipped_and_force_reruns_them(tmp_path, make_dataset):
    path = make_dataset("again")
    _, first, _ = sweep(tmp_path, [str(path)], ["faiss-flat"])
    _, second, _ = sweep(tmp_path, [str(path)], ["faiss-flat"])
    assert [o.status for o in first] == ["ok"] and [o.status for o in second] == ["skipped"]
    jobs = expand(
        parse_experiment({"datasets": [str(path)], "adapters": ["faiss-flat"], "repeats": 1}),
        tmp_path / "datasets",
    )
    forced = run_sweep(jobs, tmp_path / "results", executor="inline", force=True)
    assert [o.status for o in forced] == ["ok"]
