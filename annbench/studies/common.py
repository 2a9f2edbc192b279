"""What every study shares: the HNSW adapters they compare, running a study's experiment and
where its tables and figures go.

Studies run as plain jobs through the usual plan -> executor -> worker path, so their results
land in the results store beside everything else; a study only chooses the grid and
summarises the frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from annbench.run.plan import Experiment, expand
from annbench.run.runner import run_sweep

STUDY_M = 16
STUDY_EF_CONSTRUCTION = 128
STUDY_EF_SEARCH = (10, 40)


def hnsw_adapters(
    m: int = STUDY_M,
    ef_construction: int = STUDY_EF_CONSTRUCTION,
    ef_search: Sequence[int] = STUDY_EF_SEARCH,
) -> list[dict]:
    """hnswlib and faiss-hnsw at the same graph parameters and search breadths, each inserting
    vectors one by one in the order given (faiss otherwise reorders a batch by level)."""
    build = {"M": [m], "ef_construction": [ef_construction]}
    faiss_build = {**build, "add_batch_size": [1]}
    return [
        {"name": "hnswlib", "build": build, "query": {"ef": list(ef_search)}},
        {"name": "faiss-hnsw", "build": faiss_build, "query": {"ef_search": list(ef_search)}},
    ]


def installed(methods: list[dict]) -> list[dict]:
    """The study methods whose adapter can run here (the others are left out)."""
    from annbench.adapters.availability import availabilities
    from annbench.adapters.registry import discover

    registry = discover()
    reasons = availabilities(registry[m["name"]] for m in methods)
    return [m for m in methods if not reasons[m["name"]]]


def run_study(
    experiment: Experiment,
    data_dir: str | os.PathLike,
    results_dir: str | os.PathLike,
    *,
    executor: str = "process",
    echo: Callable[[str], None] | None = None,
    per_query: bool = False,
):
    """Run an experiment and return the frame of exactly its runs (``per_query``: with the
    per-query arrays)."""
    from annbench.store.frame import load_frame

    run_ids = run_jobs(experiment, data_dir, results_dir, executor=executor, echo=echo)
    frame = load_frame(results_dir, per_query=per_query)
    return frame[frame["run_id"].isin(run_ids)]


def run_jobs(
    experiment: Experiment,
    data_dir: str | os.PathLike,
    results_dir: str | os.PathLike,
    *,
    executor: str = "process",
    echo: Callable[[str], None] | None = None,
) -> set[str]:
    """Run an experiment and return the run ids of its jobs (for a study that loads the
    results its own way)."""
    jobs = expand(experiment, data_dir)
    outcomes = run_sweep(jobs, results_dir, executor=executor, echo=echo)
    return {outcome.job.run_id for outcome in outcomes}


def study_path(results_dir: str | os.PathLike, name: str) -> Path:
    """Where a study writes its table and figures (a file stem, inside the results folder)."""
    from annbench.errors.names import file_stem, inside

    return inside(results_dir, "studies", file_stem(name))
