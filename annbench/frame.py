"""Result files -> one tidy pandas DataFrame, one row per query-sweep point.

Metrics are computed here from the stored raw arrays, so a new metric never needs a rerun.
A failed run contributes one row with its status and reason and no metrics.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from annbench.metrics import queries_per_second, recall_at_k, tolerant_recall_at_k
from annbench.results import RunResult, read_result, result_files

COLUMNS = [
    "dataset",
    "adapter",
    "label",
    "build_params",
    "query_params",
    "k",
    "seed",
    "insertion_order",
    "status",
    "error",
    "recall",
    "recall_tolerant",
    "qps",
    "qps_max",
    "search_time_s",
    "build_time_s",
    "index_memory_bytes",
    "build_rss_delta_bytes",
    "peak_rss_bytes",
    "n_queries",
    "repeats",
    "exact",
    "run_id",
]


def load_frame(results_dir: str | os.PathLike):
    """Every stored result under ``results_dir`` as a DataFrame (empty if there are none)."""
    import pandas as pd

    rows = [row for path in result_files(results_dir) for row in result_rows(read_result(path))]
    return pd.DataFrame(rows, columns=None if rows else COLUMNS)


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


def result_rows(result: RunResult) -> list[dict[str, Any]]:
    job = result.job
    common = {
        "dataset": job.dataset,
        "adapter": job.adapter,
        "label": job.label,
        "build_params": _params_text(job.build_params),
        "k": job.k,
        "seed": job.seed,
        "insertion_order": job.insertion_order,
        "status": result.status,
        "error": result.error,
        "build_time_s": result.build_time_ns / 1e9 if result.build_time_ns is not None else np.nan,
        "index_memory_bytes": result.index_memory_bytes,
        "build_rss_delta_bytes": result.build_rss_delta_bytes,
        "peak_rss_bytes": result.peak_rss_bytes,
        "repeats": job.repeats,
        "exact": job.exact,
        "run_id": job.run_id,
        **{f"build.{key}": value for key, value in job.build_params.items()},
    }
    if result.status != "ok" or not result.points:
        return [
            {
                **common,
                "query_params": "",
                "recall": np.nan,
                "recall_tolerant": np.nan,
                "qps": np.nan,
                "qps_max": np.nan,
                "search_time_s": np.nan,
                "n_queries": 0,
            }
        ]
    rows = []
    for point in result.points:
        n_queries = len(point.ids)
        times_s = np.asarray(point.search_times_ns, dtype=np.float64) / 1e9
        median_s = float(np.median(times_s))
        rows.append(
            {
                **common,
                "query_params": _params_text(point.query_params),
                **{f"query.{key}": value for key, value in point.query_params.items()},
                "recall": float(recall_at_k(point.ids, result.ground_truth_ids, job.k).mean()),
                "recall_tolerant": float(
                    tolerant_recall_at_k(
                        point.true_distances, result.ground_truth_distances, job.k, point.ids
                    ).mean()
                ),
                "qps": queries_per_second(n_queries, median_s),
                "qps_max": queries_per_second(n_queries, float(times_s.min())),
                "search_time_s": median_s,
                "n_queries": n_queries,
            }
        )
    return rows
