"""The result store: one HDF5 file per job, written atomically, read back into a tidy frame.

Layout of ``RESULTS/<dataset>/<adapter>/<run_id>.h5``:

- attrs: ``schema_version``, ``job`` (JSON), ``status`` (ok | failed), ``error``,
  ``build_time_ns``, memory figures, ``environment`` (JSON), timestamps;
- ``ground_truth/ids`` and ``ground_truth/distances``: the dataset's first k neighbours, so a
  result file is self-contained and metrics can be recomputed without the dataset;
- ``insertion_order``: the permutation of base ids the adapter received;
- ``points/<i>``: one group per query-sweep point, attrs ``query_params`` (JSON), arrays
  ``ids`` and ``distances`` (as the adapter returned them), ``true_distances`` (recomputed by
  the worker) and ``search_times_ns`` (one per measured repeat).

Metrics are computed when results are loaded (``load_frame``), never stored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annbench.errors import UserError
from annbench.plan import Job

MEASURES = (
    "build_time_ns",
    "index_memory_bytes",
    "build_rss_delta_bytes",
    "peak_rss_bytes",
    "container_peak_bytes",
)
SCHEMA_VERSION = 2  # 2: points carry mode, search_threads and single-query latencies
SUFFIX = ".h5"
PARTIAL = ".partial"


@dataclass
class SweepPoint:
    query_params: dict[str, Any]
    ids: np.ndarray
    distances: np.ndarray
    true_distances: np.ndarray
    search_times_ns: list[int]
    mode: str = "batch"
    search_threads: int | None = None
    latencies_ns: np.ndarray | None = None  # (repeats, n_queries), single mode only


@dataclass
class RunResult:
    job: Job
    status: str = "ok"
    error: str = ""
    build_time_ns: int | None = None
    index_memory_bytes: int | None = None
    build_rss_delta_bytes: int | None = None
    peak_rss_bytes: int | None = None
    container_peak_bytes: int | None = None
    ground_truth_ids: np.ndarray | None = None
    ground_truth_distances: np.ndarray | None = None
    insertion_order: np.ndarray | None = None
    points: list[SweepPoint] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""


def result_path(results_dir: str | os.PathLike, job: Job) -> Path:
    return Path(results_dir) / job.dataset / job.adapter / f"{job.run_id}{SUFFIX}"


def write_result(results_dir: str | os.PathLike, result: RunResult) -> Path:
    """Write one result file; readers never see a half-written file."""
    import h5py

    path = result_path(results_dir, result.job)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + PARTIAL)
    try:
        with h5py.File(partial, "w") as f:
            _write_attrs(f, result)
            _write_arrays(f, result)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _write_attrs(f, result: RunResult) -> None:
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["job"] = result.job.to_json()
    f.attrs["status"] = result.status
    f.attrs["error"] = result.error
    f.attrs["environment"] = json.dumps(result.environment, sort_keys=True, default=str)
    f.attrs["started_at"] = result.started_at
    f.attrs["finished_at"] = result.finished_at
    for key in MEASURES:
        value = getattr(result, key)
        f.attrs[key] = -1 if value is None else int(value)


def _write_arrays(f, result: RunResult) -> None:
    if result.ground_truth_ids is not None:
        f.create_dataset("ground_truth/ids", data=result.ground_truth_ids)
        f.create_dataset("ground_truth/distances", data=result.ground_truth_distances)
    if result.insertion_order is not None:
        f.create_dataset("insertion_order", data=result.insertion_order)
    for i, point in enumerate(result.points):
        group = f.create_group(f"points/{i}")
        group.attrs["query_params"] = json.dumps(point.query_params, sort_keys=True)
        group.create_dataset("ids", data=np.asarray(point.ids, dtype=np.int64))
        group.create_dataset("distances", data=np.asarray(point.distances, dtype=np.float32))
        group.create_dataset("true_distances", data=np.asarray(point.true_distances))
        group.create_dataset("search_times_ns", data=np.asarray(point.search_times_ns, np.int64))
        group.attrs["mode"] = point.mode
        group.attrs["search_threads"] = -1 if point.search_threads is None else point.search_threads
        if point.latencies_ns is not None:
            group.create_dataset("latencies_ns", data=np.asarray(point.latencies_ns, np.int64))


def stored_status(results_dir: str | os.PathLike, job: Job) -> str | None:
    """'ok' or 'failed' when a result for this job is stored, else None."""
    import h5py

    path = result_path(results_dir, job)
    if not path.exists():
        return None
    try:
        with h5py.File(path, "r") as f:
            return str(f.attrs.get("status", "failed"))
    except OSError:
        return None


def result_files(results_dir: str | os.PathLike) -> list[Path]:
    return sorted(Path(results_dir).glob(f"*/*/*{SUFFIX}"))


def read_result(path: str | os.PathLike) -> RunResult:
    """Read one result file back (refusing files from a newer annbench)."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise UserError(
            f"{path} is not a readable result file ({exc}); delete it to rerun"
        ) from None
    with f:
        version = int(f.attrs.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise UserError(
                f"{path} has result schema version {version}, newer than this annbench "
                f"understands ({SCHEMA_VERSION}); upgrade annbench to read it"
            )
        attrs = dict(f.attrs)
        result = RunResult(
            job=Job.from_json(attrs["job"]),
            status=str(attrs["status"]),
            error=str(attrs.get("error", "")),
            environment=json.loads(attrs.get("environment", "{}")),
            started_at=str(attrs.get("started_at", "")),
            finished_at=str(attrs.get("finished_at", "")),
        )
        for key in MEASURES:
            value = int(attrs.get(key, -1))
            setattr(result, key, None if value < 0 else value)
        if "ground_truth" in f:
            result.ground_truth_ids = f["ground_truth/ids"][:]
            result.ground_truth_distances = f["ground_truth/distances"][:]
        if "insertion_order" in f:
            result.insertion_order = f["insertion_order"][:]
        points = f.get("points", {})
        for key in sorted(points, key=int):
            group = points[key]
            threads = int(group.attrs.get("search_threads", -1))
            result.points.append(
                SweepPoint(
                    query_params=json.loads(group.attrs["query_params"]),
                    ids=group["ids"][:],
                    distances=group["distances"][:],
                    true_distances=group["true_distances"][:],
                    search_times_ns=group["search_times_ns"][:].tolist(),
                    mode=str(group.attrs.get("mode", "batch")),  # schema 1: batch only
                    search_threads=None if threads < 0 else threads,
                    latencies_ns=group["latencies_ns"][:] if "latencies_ns" in group else None,
                )
            )
    return result


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Status, error and build time of a result file, without reading its arrays."""
    import h5py

    with h5py.File(path, "r") as f:
        build_ns = int(f.attrs.get("build_time_ns", -1))
        return {
            "status": str(f.attrs.get("status", "failed")),
            "error": str(f.attrs.get("error", "")),
            "build_time_s": build_ns / 1e9 if build_ns >= 0 else None,
        }


def read_environment(path: str | os.PathLike) -> dict[str, Any]:
    """The environment manifest of a result file, without reading its arrays."""
    import h5py

    with h5py.File(path, "r") as f:
        return json.loads(f.attrs.get("environment", "{}"))
