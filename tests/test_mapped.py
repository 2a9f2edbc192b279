"""Memory-mapped dataset loading: the same values as a plain read, shared read-only pages, and a
plain read wherever the file's layout does not allow a mapping."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest

from annbench.datasets.mapped import is_mapped, load_mapped, prefault
from annbench.datasets.store import load_dataset


def _same(a, b) -> None:
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x is not None and y is not None, field.name
            assert x.dtype == y.dtype and np.array_equal(x, y), field.name
        elif isinstance(x, dict) and x and isinstance(next(iter(x.values())), np.ndarray):
            assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
        elif field.name == "attributes":
            assert (x is None) == (y is None)
        elif field.name != "workloads":
            assert x == y, field.name


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_a_mapped_dataset_equals_the_loaded_one(make_dataset, metric):
    path = make_dataset(generator="blobs", metric=metric)
    mapped, loaded = load_mapped(path), load_dataset(path)
    assert is_mapped(mapped.base) and is_mapped(mapped.queries)
    assert not is_mapped(loaded.base)
    _same(mapped, loaded)
    prefault(mapped.base)  # touching pages reads, never writes
    assert np.array_equal(mapped.base, loaded.base)
    # writable for libraries that insist, but a write stays in this process (copy-on-write)
    mapped.base[0] += 1.0
    assert np.array_equal(load_mapped(path).base, loaded.base)
    assert np.array_equal(load_dataset(path).base, loaded.base)


def test_attributes_and_filter_workloads_come_as_load_dataset_reads_them(tmp_path):
    from annbench.datasets.attributes import add_filter_workloads
    from annbench.datasets.groundtruth import exact_knn
    from annbench.datasets.store import write_dataset
    from annbench.datasets.synthetic import make_synthetic

    dataset = make_synthetic("blobs", {"n": 1500, "n_queries": 30, "dim": 8}, seed=2)
    dataset.neighbors, dataset.distances = exact_knn(
        dataset.base, dataset.queries, dataset.metric, 10, progress=False
    )
    names = add_filter_workloads(dataset, ["range", "tags"], [0.1], ["none"], seed=1)
    path = tmp_path / "filtered.hdf5"
    write_dataset(path, dataset)
    for wanted in [None, names[0], ""]:
        mapped, loaded = load_mapped(path, workloads=wanted), load_dataset(path, workloads=wanted)
        assert is_mapped(mapped.base)
        _same(mapped, loaded)
        assert mapped.workloads.keys() == loaded.workloads.keys()
        for name, workload in mapped.workloads.items():
            other = loaded.workloads[name]
            assert np.array_equal(workload.neighbors, other.neighbors)
            assert np.array_equal(workload.selectivity, other.selectivity)
        for column in ("label", "tags_indptr", "tags_indices", "value"):
            a, b = getattr(mapped.attributes, column), getattr(loaded.attributes, column)
            assert (a is None and b is None) or np.array_equal(a, b), column


def _rewrite(source, target, dtype=np.float32, **options) -> None:
    """A copy of the dataset file with train and test stored as ``dtype`` with h5py
    ``options``."""
    with h5py.File(source, "r") as f, h5py.File(target, "w") as out:
        for key, value in f.attrs.items():
            out.attrs[key] = value
        for key in f:
            if key in ("train", "test"):
                out.create_dataset(key, data=f[key][:].astype(dtype), **options)
            else:
                f.copy(key, out)


@pytest.mark.parametrize(
    "options", [{"chunks": (10, 16), "compression": "gzip"}, {"dtype": np.float64}]
)
def test_a_file_that_cannot_be_mapped_is_read(tmp_path, make_dataset, options):
    path = make_dataset()
    other = tmp_path / "other.hdf5"
    _rewrite(path, other, **options)
    dataset = load_mapped(other)
    assert not is_mapped(dataset.base)
    _same(dataset, load_dataset(path))


def test_a_refused_file_gives_load_datasets_line(tmp_path, make_dataset):
    from annbench.errors import UserError

    path = make_dataset()
    with h5py.File(path, "r+") as f:
        f.attrs["distance"] = "hamming"
    with pytest.raises(UserError) as mapped:
        load_mapped(path)
    with pytest.raises(UserError) as loaded:
        load_dataset(path)
    assert str(mapped.value) == str(loaded.value)


LOCAL_ADAPTERS = [
    "annoy", "chroma", "faiss-flat", "faiss-hnsw", "faiss-hnsw-sq", "faiss-ivf", "faiss-ivfpq",
    "hnswlib", "lancedb", "milvus-lite", "sklearn", "usearch", "voyager",
]  # fmt: skip


def test_every_in_process_adapter_builds_from_a_mapped_base(tmp_path, make_dataset):
    """The worker hands adapters the mapped file itself (insertion order 'original',
    euclidean): each library must accept it, and answer as it does from a plain array."""
    from annbench.adapters.registry import discover
    from annbench.run.plan import expand, parse_experiment
    from annbench.run.runner import run_sweep
    from annbench.store.results import read_result

    registry = discover()
    names = [n for n in LOCAL_ADAPTERS if registry[n].library_version() != "not installed"]
    path = make_dataset(n=1000, n_queries=20)
    experiment = parse_experiment(
        {"datasets": [str(path)], "adapters": names, "repeats": 1, "build_threads": [1]}
    )
    outcomes = run_sweep(expand(experiment, tmp_path), tmp_path / "results", executor="inline")
    assert [(o.job.adapter, o.status, o.error) for o in outcomes] == [
        (o.job.adapter, "ok", "") for o in outcomes
    ]
    assert all(read_result(o.path).run_info["dataset_mapped"] for o in outcomes)
