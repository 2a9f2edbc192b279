"""Index memory for every adapter that can report it: the library's own figure where it gives
one (hnswlib's index size, faiss's and voyager's serialised size counted as written, a
pickled scikit-learn estimator), and the build's RSS growth where it does not (the memory
plot draws those hollow)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from annbench.adapters.registry import discover, load_adapter_class
from annbench.adapters.sizes import ByteCounter, counted_bytes, pickled_bytes
from annbench.store.frame import load_frame
from annbench.views.plots import index_memory, plot_memory

BASE = np.random.default_rng(0).standard_normal((600, 16)).astype(np.float32)


def built(name: str, **build_params):
    spec = discover()[name]
    adapter = load_adapter_class(spec.module_path, spec.class_name)(
        "euclidean", seed=3, **build_params
    )
    adapter.build(BASE, np.arange(len(BASE), dtype=np.int64))
    return adapter


def test_a_byte_counter_counts_what_is_written_and_keeps_nothing():
    assert counted_bytes(lambda f: (f.write(b"abc"), f.write(memoryview(BASE)))) == 3 + BASE.nbytes
    value = {"a": BASE, "b": [1, 2, 3]}
    assert pickled_bytes(value) == len(pickle.dumps(value, protocol=5))
    counter = ByteCounter()
    counter.write(b"12345")
    assert counter.tell() == counter.seek(0, 1) == 5 and not counter.seekable()
    with pytest.raises(OSError):
        counter.seek(0)


def test_hnswlib_reports_the_size_of_the_index_it_would_save(tmp_path):
    adapter = built("hnswlib", M=16, ef_construction=64)
    adapter.index.save_index(str(tmp_path / "index.bin"))
    assert adapter.memory_bytes() == (tmp_path / "index.bin").stat().st_size
    # at least every vector, its label and its level-0 links (2M neighbours of 4 bytes)
    assert adapter.memory_bytes() >= len(BASE) * (4 * 16 + 8 + 4 * 2 * 16)


@pytest.mark.parametrize(
    "name,params,reference",
    [
        ("faiss-hnsw", {"M": 8}, lambda a: len(__import__("faiss").serialize_index(a.index))),
        ("faiss-ivf", {"nlist": 8}, lambda a: len(__import__("faiss").serialize_index(a.index))),
        ("voyager", {"M": 8}, lambda a: len(a.index.as_bytes())),
        ("sklearn", {}, lambda a: len(pickle.dumps(a.index, protocol=5))),
        ("pynndescent", {"n_neighbors": 10}, lambda a: len(pickle.dumps(a.index, protocol=5))),
    ],
)
def test_libraries_that_can_save_their_index_report_its_size(name, params, reference):
    adapter = built(name, **params)
    size = adapter.memory_bytes()
    assert size == reference(adapter)
    assert size >= BASE.nbytes  # every one of them keeps the vectors


def test_an_hnswlib_sweep_shows_an_index_memory_figure(cli, make_dataset, tmp_path):
    path = make_dataset("memory", n=1500, n_queries=20, dim=8)
    spec = tmp_path / "spec.yml"
    spec.write_text(
        "datasets: [memory]\nk: 10\nrepeats: 1\nadapters:\n"
        "  - {name: hnswlib, build: {M: [8]}, query: {ef: [10, 40]}}\n"
        "  - {name: annoy, build: {n_trees: [4]}, query: {search_k: [-1]}}\n"
    )
    folders = ["--data-dir", path.parent, "--results-dir", tmp_path / "results"]
    status, _, err = cli(*folders, "run", spec)
    assert status == 0, err
    frame = load_frame(tmp_path / "results")
    hnsw = frame[frame["adapter"] == "hnswlib"]
    assert hnsw["index_memory_bytes"].notna().all()
    assert (hnsw["index_memory_bytes"] >= 1500 * (4 * 8 + 8 + 4 * 2 * 8)).all()
    sizes, measured = index_memory(frame)
    annoy = frame["adapter"] == "annoy"  # saving an annoy index re-maps it: no library figure
    assert frame.loc[annoy, "index_memory_bytes"].isna().all()
    assert measured[annoy].all() and not measured[~annoy].any()
    assert sizes.notna().all()
    written = plot_memory(frame, tmp_path / "memory", "memory")
    svg = next(p for p in written if p.suffix == ".svg").read_text()
    assert "annoy (RSS delta)" in svg and "hnswlib" in svg


def test_the_memory_view_leaves_out_rows_with_no_figure_at_all():
    rows = pd.DataFrame(
        {
            "adapter": ["a", "b", "c"],
            "recall": [0.9, 0.8, 0.7],
            "index_memory_bytes": [1e6, None, None],
            "build_rss_delta_bytes": [5e6, 2e6, -4096],  # c: memory went down, no estimate
        }
    )
    sizes, measured = index_memory(rows)
    assert sizes.tolist()[:2] == [1e6, 2e6] and np.isnan(sizes.iloc[2])
    assert measured.tolist() == [False, True, False]
