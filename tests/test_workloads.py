"""The workload layer: today's static sweep as the first workload, unchanged in its answers."""

from __future__ import annotations

import shutil
from pathlib import Path

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
