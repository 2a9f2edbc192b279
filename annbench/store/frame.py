"""Result files -> one tidy pandas DataFrame, one row per query-sweep point.

Metrics are computed here from the stored raw arrays, so a new metric never needs a rerun.
A failed run contributes one row with its status and reason and no metrics.

A result is *stale* when the dataset it names has changed since it was measured: its recorded
content hash differs from that of the dataset file now present (at the path the job read, else
under the same name in the data folder). Stale results are left out unless asked for, so
numbers of old and new content never mix under one name; where no dataset file can be found
(results copied from another machine) a result is taken as it is. The frame's
``attrs["notes"]`` holds one line per thing left out, for the command line to print.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from annbench.analysis.metrics import (
    latency_summary,
    recall_at_k,
    recall_distribution,
    timing_summary,
    tolerant_recall_at_k,
)
from annbench.errors import NewerFormat, UserError
from annbench.store.results import FAILED_RERUN, RunResult, read_result, result_files

COLUMNS = [
    "dataset",
    "workload",
    "adapter",
    "strategy",
    "label",
    "build_params",
    "query_params",
    "mode",
    "search_threads",
    "build_threads",
    "search_threads_used",
    "build_threads_used",
    "k",
    "seed",
    "insertion_order",
    "filter",
    "target_selectivity",
    "correlation",
    "selectivity",
    "alpha_median",
    "step",
    "active",
    "clients",
    "client_mode",
    "duration_s",
    "completed",
    "coverage",
    "ceiling_qps",
    "harness_bound",
    "ingest_rate",
    "ingested",
    "status",
    "error",
    "recall",
    "recall_tolerant",
    "recall_zero_share",
    "recall_full_share",
    "recall_p05",
    "qps",
    "qps_min",
    "qps_max",
    "qps_iqr",
    "qps_ci_low",
    "qps_ci_high",
    "cv",
    "unstable",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "latency_mean_ms",
    "search_time_s",
    "build_time_s",
    "index_memory_bytes",
    "build_rss_delta_bytes",
    "peak_rss_bytes",
    "container_peak_bytes",
    "n_queries",
    "repeats",
    "exact",
    "stale",
    "run_id",
]


def load_frame(
    results_dir: str | os.PathLike,
    *,
    per_query: bool = False,
    data_dir: str | os.PathLike | None = None,
    include_stale: bool = False,
    extra_columns=None,
):
    """Every stored result under ``results_dir`` as a DataFrame (empty if there are none).

    With ``per_query`` each row also holds arrays over the queries: ``recall_per_query`` and,
    for single-mode points, ``latency_per_query_ms`` (each query's median over the repeats;
    None in batch mode, which times all queries together).
    Stale results (see above) are left out unless ``include_stale``; files in the folder that
    are not results are skipped. Either is said in ``frame.attrs["notes"]``.
    ``extra_columns(result)`` may return one dict of further columns per sweep point (or None)
    to merge into that point's row.
    """
    import pandas as pd

    rows, skipped = [], []
    current = _current_hash(data_dir)
    for path in result_files(results_dir):
        try:
            result = read_result(path)
        except NewerFormat:
            raise
        except UserError as exc:
            skipped.append(str(exc))
            continue
        rerun = path.name.endswith(FAILED_RERUN)
        stale = current(result.job) not in (None, result.job.dataset_hash)
        rows_of_result = result_rows(result, per_query=per_query)
        extra = extra_columns(result) if extra_columns is not None else None
        for position, row in enumerate(rows_of_result):
            if extra is not None and position < len(extra):
                row.update(extra[position])
            if rerun:
                row["error"] = f"rerun failed, the earlier ok result is kept: {row['error']}"
            rows.append({**row, "stale": stale})
    frame = pd.DataFrame(rows)
    # every column of the schema, even where no run got far enough to fill it (all failed)
    frame = frame.reindex(columns=COLUMNS + [c for c in frame.columns if c not in COLUMNS])
    notes = [f"skipped {reason}" for reason in skipped]
    stale_runs = frame.loc[frame["stale"].eq(True), "run_id"].nunique()
    if stale_runs and not include_stale:
        frame = frame[~frame["stale"].eq(True)].reset_index(drop=True)
        notes.append(
            f"left out {stale_runs} stale results (their dataset's content has changed since); "
            "--include-stale shows them"
        )
    elif stale_runs:
        notes.append(f"{stale_runs} results are stale (their dataset's content has changed)")
    frame.attrs["notes"] = notes
    return frame


def _current_hash(data_dir: str | os.PathLike | None):
    """job -> content hash of the dataset file now present for it (None: no file found)."""
    from pathlib import Path

    from annbench.datasets.runbook_truth import runbook_content
    from annbench.datasets.store import dataset_hash
    from annbench.store.jobs import runbook_dataset_hash, runbook_digest, runbook_query_sets

    cache: dict[tuple, str | None] = {}

    def current(job) -> str | None:
        candidates = [Path(job.dataset_path)]
        if data_dir is not None:
            candidates.append(Path(data_dir) / f"{job.dataset}.hdf5")
        for path in candidates:
            try:
                stat = path.stat()
            except OSError:
                continue
            digest = runbook_digest(job.runbook) if job.runbook else ""
            key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, job.workload, digest)
            if key not in cache:
                try:
                    if job.runbook:  # a streaming job: the dataset's (and query sets') content
                        content = runbook_content(path, runbook_query_sets(job.runbook))
                        cache[key] = runbook_dataset_hash(content, job.runbook)
                    else:
                        cache[key] = dataset_hash(path, job.workload)
                except UserError:  # unreadable, or the workload is gone
                    cache[key] = "unreadable"
            return cache[key]
        return None

    return current


def _mean(values) -> float:
    return float(np.mean(values)) if values is not None and len(values) else np.nan


def _median_alpha(alpha) -> float:
    """Median alpha over the queries with enough passing vectors to have one."""
    if alpha is None or not (np.asarray(alpha) > 0).any():
        return np.nan
    return float(np.median(np.asarray(alpha)[np.asarray(alpha) > 0]))


def _used(requested: int | None, default: int | None) -> int | None:
    """The threads a run used: what the spec asked for, else what the library defaulted to."""
    return requested if requested is not None else default


def _latency_per_query_ms(latencies_ns) -> np.ndarray | None:
    """Each query's median single-query latency over the repeats (rows of ``latencies_ns``)."""
    if latencies_ns is None:
        return None
    return np.median(np.asarray(latencies_ns, dtype=np.float64), axis=0) / 1e6


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


HARNESS_BOUND_SHARE = 0.5  # a point above this share of the no-op ceiling is harness-bound


def _clients_columns(job, point, n_queries: int) -> dict[str, Any]:
    """A clients point's level and what its QPS means beside the harness's own ceiling."""
    if point.clients is None:
        return {"clients": None}
    qps = point.completed / (point.search_times_ns[0] / 1e9)
    return {
        # one window, one figure: no spread to show
        **{key: np.nan for key in ("qps_min", "qps_max", "qps_iqr", "cv")},
        "clients": point.clients,
        "client_mode": point.client_mode,
        "duration_s": point.duration_s,
        "completed": point.completed,
        "coverage": point.answered / n_queries,
        "ceiling_qps": point.ceiling_qps,
        "harness_bound": bool(qps > HARNESS_BOUND_SHARE * point.ceiling_qps),
        "ingest_rate": point.ingest_rate,
        "ingested": point.ingested,
    }


def result_rows(result: RunResult, *, per_query: bool = False) -> list[dict[str, Any]]:
    job = result.job
    info = result.workload_info
    common = {
        "dataset": job.dataset,
        "workload": job.workload or "static",
        "dataset_path": job.dataset_path,
        "dataset_hash": job.dataset_hash,
        "adapter": job.adapter,
        "strategy": job.strategy or ("native" if job.workload else ""),
        "filter": info.get("filter", ""),
        "target_selectivity": info.get("target_selectivity"),
        "correlation": info.get("correlation", ""),
        "selectivity": _mean(result.query_selectivity),
        "alpha_median": _median_alpha(result.query_alpha),
        "label": job.label,
        "build_params": _params_text(job.build_params),
        "build_threads": job.build_threads,
        "build_threads_used": _used(job.build_threads, result.default_threads),
        "k": job.k,
        "seed": job.seed,
        "insertion_order": job.insertion_order,
        "client_mode": job.client_mode if job.clients else None,  # failed clients jobs too
        "status": result.status,
        "error": result.error,
        "build_time_s": result.build_time_ns / 1e9 if result.build_time_ns is not None else np.nan,
        "index_memory_bytes": result.index_memory_bytes,
        "build_rss_delta_bytes": result.build_rss_delta_bytes,
        "peak_rss_bytes": result.peak_rss_bytes,
        "container_peak_bytes": result.container_peak_bytes,
        "repeats": job.repeats,
        "exact": job.exact,
        "run_id": job.run_id,
        **{f"build.{key}": value for key, value in job.build_params.items()},
    }
    if result.status != "ok" or not result.points:
        return [{**common, "query_params": "", "n_queries": 0}]
    rows = []
    active = {record["step"]: record["active"] for record in result.steps}  # runbooks
    for point in result.points:
        n_queries = len(point.ids)
        truth_ids = result.ground_truth_ids if point.truth_ids is None else point.truth_ids
        truth_distances = (
            result.ground_truth_distances if point.truth_ids is None else point.truth_distances
        )
        recalls = recall_at_k(point.ids, truth_ids, job.k)
        tolerant = tolerant_recall_at_k(point.true_distances, truth_distances, job.k, point.ids)
        row = {
            **common,
            "query_params": _params_text(point.query_params),
            **{f"query.{key}": value for key, value in point.query_params.items()},
            "mode": point.mode,
            "search_threads": point.search_threads,
            "search_threads_used": _used(point.search_threads, result.default_threads),
            "recall": float(recalls.mean()),
            "recall_tolerant": float(tolerant.mean()),
            **recall_distribution(recalls),
            **timing_summary(
                point.search_times_ns, n_queries if point.clients is None else point.completed
            ),
            **latency_summary(point.latencies_ns),
            "search_time_s": float(np.median(point.search_times_ns)) / 1e9,
            "n_queries": n_queries,
            "step": point.step,
            "active": active.get(point.step),
            **_clients_columns(job, point, n_queries),
        }
        if per_query:
            row["recall_per_query"] = recalls
            row["alpha_per_query"] = result.query_alpha
            row["latency_per_query_ms"] = _latency_per_query_ms(point.latencies_ns)
        rows.append(row)
    return rows
