"""The filtered-search study: the selectivity x correlation grid of filter workloads on one
dataset, answered by graph, inverted-file and database indexes through their own filtering
paths, and by post-filtering hnswlib at several over-fetch factors."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

from annbench.run.plan import Experiment
from annbench.studies.common import installed

STUDY_SELECTIVITIES = (0.5, 0.1, 0.01)
STUDY_CORRELATIONS = ("positive", "none", "negative")
# the point of each method its table row reports (the others draw its frontier)
REFERENCE = {
    "hnswlib": "ef=40",
    "faiss-hnsw": "ef_search=40",
    "faiss-ivf": "nprobe=8",
    "pgvector": "ef_search=40",
}


def filtered_adapters(n_base: int) -> list[dict]:
    """The study's methods at fixed build parameters, each with a short query sweep; the
    libraries that are not installed here are left out."""
    hnsw = {"M": [16], "ef_construction": [128]}
    nlist = max(1, int(round(math.sqrt(n_base))))
    methods = [
        {"name": "hnswlib", "build": hnsw, "query": {"ef": [10, 40, 160]}},
        {"name": "faiss-hnsw", "build": hnsw, "query": {"ef_search": [10, 40, 160]}},
        {"name": "faiss-ivf", "build": {"nlist": [nlist]}, "query": {"nprobe": [1, 8, 32]}},
        {
            "name": "pgvector",
            "build": {"m": [16], "ef_construction": [64]},
            "query": {"ef_search": [40, 160]},
        },
        {
            "name": "hnswlib",
            "strategy": "postfilter",
            "build": hnsw,
            "query": {"ef": [40]},
            "overfetch": [1.0, 4.0, 16.0],
        },
    ]
    return installed(methods)


def filtered_experiment(
    dataset: str,
    data_dir: str | os.PathLike,
    *,
    kind: str = "range",
    selectivities: Sequence[float | None] = STUDY_SELECTIVITIES,
    correlations: Sequence[str] = STUDY_CORRELATIONS,
    seed: int = 0,
    warn: Callable[[str], None] | None = None,
) -> Experiment:
    """The study's experiment, its workloads added to the dataset file where missing."""
    from annbench.datasets.attributes import add_filter_workloads, workload_name
    from annbench.datasets.catalog import in_data_dir, resolve_dataset
    from annbench.datasets.store import load_dataset, write_dataset
    from annbench.errors import UserError

    path = resolve_dataset(dataset, data_dir)
    loaded = load_dataset(path)
    wanted = [workload_name(kind, s, c) for s in selectivities for c in correlations]
    if any(name not in loaded.workloads for name in wanted):
        if not in_data_dir(path, data_dir):
            raise UserError(f"{path} lies outside the data folder; annbench writes only there")
        missing = [
            s
            for s in selectivities
            if any(workload_name(kind, s, c) not in loaded.workloads for c in correlations)
        ]
        add_filter_workloads(loaded, [kind], missing, list(correlations), seed=seed, warn=warn)
        write_dataset(path, loaded, overwrite=True)
    names = [name for name in wanted if name in loaded.workloads]
    return Experiment(
        datasets=[dataset],
        workloads={dataset: names},
        adapters=filtered_adapters(len(loaded.base)),
        k=10,
        repeats=1,
        warmup=0,
        seeds=[seed],
        build_threads=[1],
        search_threads=[1],
        timeout=900,
    )
