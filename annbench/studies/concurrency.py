"""The concurrency study: hnswlib, faiss-hnsw and pgvector, each at its query configuration
nearest a target recall (0.95), under 1, 2, 4 (and more, where the machine has the cores)
concurrent clients; the no-op adapter beside them is the harness's own ceiling.

Two passes through the usual plan -> executor -> worker path: a short single-query sweep over
each method's grid picks the configuration, then one clients job per method measures it at
every level.
"""

from __future__ import annotations

import os

from annbench.run.plan import Experiment
from annbench.studies.common import installed

TARGET_RECALL = 0.95
DURATION_S = 10.0
WARMUP_S = 1.0
METHODS = ("hnswlib", "faiss-hnsw", "pgvector")
CEILING = "noop"
SEARCH = {
    "hnswlib": ("ef", [10, 20, 40, 80, 160, 320]),
    "faiss-hnsw": ("ef_search", [10, 20, 40, 80, 160, 320]),
    "pgvector": ("ef_search", [10, 20, 40, 80, 160, 320]),
}
BUILD = {
    "hnswlib": {"M": [16], "ef_construction": [128]},
    "faiss-hnsw": {"M": [16], "ef_construction": [128]},
    "pgvector": {"m": [16], "ef_construction": [64]},
}


def client_levels(cpus: int | None = None) -> list[int]:
    """1, 2, 4, then doubling while the machine has at least that many cores."""
    cpus = cpus or len(os.sched_getaffinity(0))
    levels = [1, 2, 4]
    while levels[-1] * 2 <= cpus:
        levels.append(levels[-1] * 2)
    return levels


def selection_experiment(dataset: str, methods: list[str], seed: int = 0) -> Experiment:
    """The first pass: each method's whole query grid, single queries, one repeat."""
    adapters = [
        {"name": name, "build": BUILD[name], "query": {SEARCH[name][0]: SEARCH[name][1]}}
        for name in methods
    ]
    return Experiment(
        datasets=[dataset],
        adapters=installed(adapters),
        k=10,
        repeats=1,
        warmup=1,
        seeds=[seed],
        build_threads=[None],
        search_threads=[1],
        modes=["single"],
        timeout=1800,
    )


def chosen_configurations(frame, target: float = TARGET_RECALL) -> dict[str, dict]:
    """Per method, the query parameters of its point nearest ``target`` recall."""
    from annbench.analysis.difficulty import nearest_recall_points

    chosen = nearest_recall_points(frame, target)
    return {
        row["adapter"]: {key[len("query.") :]: row[key] for key in row.index if _set(row, key)}
        for _, row in chosen.iterrows()
    }


def _set(row, key: str) -> bool:
    import pandas as pd

    return key.startswith("query.") and not pd.isna(row[key])


def clients_experiment(
    dataset: str,
    configurations: dict[str, dict],
    levels: list[int],
    duration: float = DURATION_S,
    seed: int = 0,
) -> Experiment:
    """The second pass: each method at its chosen configuration, and the no-op ceiling."""
    adapters = [
        {
            "name": name,
            "build": BUILD[name],
            "query": {key: [_plain(value)] for key, value in params.items()},
        }
        for name, params in configurations.items()
    ]
    adapters.append({"name": CEILING, "build": {}, "query": {}})
    return Experiment(
        datasets=[dataset],
        adapters=adapters,
        k=10,
        seeds=[seed],
        build_threads=[None],
        clients=levels,
        duration=duration,
        client_warmup=WARMUP_S,
        timeout=1800,
    )


def _plain(value):
    """A frame value (numpy scalar, float holding a whole number) as the spec's own type."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value
