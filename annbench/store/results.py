"""The result store: one HDF5 file per job, written atomically, read back into a tidy frame.

Layout of ``RESULTS/<dataset>/<adapter>/<run_id>.h5``:

- attrs: ``schema_version``, ``job`` (JSON), ``status`` (ok | failed), ``error``,
  ``build_time_ns``, memory figures, ``environment`` (JSON), timestamps;
- ``ground_truth/ids`` and ``ground_truth/distances``: the dataset's first k neighbours, so a
  result file is self-contained and metrics can be recomputed without the dataset;
- ``insertion_order``: the permutation of base ids the adapter received;
- for a filter workload: attribute ``workload`` (JSON: filter kind, target selectivity,
  correlation, ...) and ``workload/query_selectivity``, ``workload/query_alpha`` per query
  (the ground truth above is then the workload's filtered one);
- ``points/<i>``: one group per query-sweep point, attrs ``query_params`` (JSON), arrays
  ``ids`` and ``distances`` (as the adapter returned them), ``true_distances`` (recomputed by
  the worker) and ``search_times_ns`` (one per measured repeat); in a runbook, attr ``step``
  and the step's own ground truth ``truth_ids`` / ``truth_distances``;
- a clients point (``mode`` = clients): attrs ``clients`` (the level), ``completed`` (queries
  completed in the level's window; ``search_times_ns`` then holds one wall time, from the
  common start to the last client's end), ``answered`` (distinct queries answered in the
  window; ``ids`` holds every query's first answer, the rest answered after the window),
  ``client_completed`` (JSON, per client) and ``ceiling_qps`` (the harness's no-op ceiling at
  that level, measured in the same job); ``latencies_ns`` holds every completed query's
  latency, all clients pooled; measured while ingesting (a runbook step), attrs
  ``ingest_rate`` and ``ingested``, and ``ids`` holds every answer kept in the window, with
  ``query_rows`` (the query of each) and ``ingest_counts`` (the points inserted when its
  query began; its ``truth_ids`` are over exactly those);
- a runbook: attribute ``steps`` (JSON, one record per step: kind, points, active, seconds,
  resident memory after it).

Metrics are computed when results are loaded (``load_frame``), never stored.

How a result gets there: the worker writes ``<run id>.<pid>.staging`` and exits; the executor
then commits it (``commit_result``). A good result replaces what was stored; a failure never
replaces a good result and is kept beside it as ``<run id>.failed.h5``. Staged files whose
sweep died are removed by the next sweep (``clean_staging``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annbench.errors import NewerFormat, UserError
from annbench.errors.files import ensure_folder, os_errors
from annbench.errors.names import check_name, inside
from annbench.store.jobs import Job

MEASURES = (
    "default_threads",
    "build_time_ns",
    "index_memory_bytes",
    "build_rss_delta_bytes",
    "peak_rss_bytes",
    "container_peak_bytes",
)
SCHEMA_VERSION = 3  # 2: points carry mode, search_threads, latencies; 3: clients points
SUFFIX = ".h5"
FAILED_RERUN = ".failed.h5"  # a failed rerun beside a good result (never replaces it)
PARTIAL = ".partial"
STAGING = ".staging"


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
    # a runbook's search step: its number, and the exact neighbours over the points active
    # then (the result's ground_truth holds the last step's)
    step: int | None = None
    truth_ids: np.ndarray | None = None
    truth_distances: np.ndarray | None = None
    # a clients point: its level, the queries completed within the level's window (those
    # ``search_times_ns``'s one wall time covers), the distinct queries answered in it, the
    # completions per client and the harness's no-op ceiling (QPS) at the same level
    clients: int | None = None
    completed: int | None = None
    answered: int | None = None
    client_completed: list[int] | None = None
    ceiling_qps: float | None = None
    client_mode: str = ""  # how the clients ran: process | thread
    duration_s: float | None = None  # the level's window
    # a clients point measured while ingesting (runbooks): the target rate (points per
    # second), the points inserted within the window and, per query, how many had been
    # inserted when its answer's query began (its ``truth_ids`` are over exactly those)
    ingest_rate: float | None = None
    ingested: int | None = None
    ingest_counts: np.ndarray | None = None
    query_rows: np.ndarray | None = None  # while ingesting: the query each answer row answers


CLIENT_ATTRS = ("clients", "completed", "answered", "ceiling_qps", "client_mode", "duration_s")


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
    # threads a library used where the spec left them unset (build_threads or search_threads
    # null): recorded so a result says what it ran with
    default_threads: int | None = None
    ground_truth_ids: np.ndarray | None = None
    ground_truth_distances: np.ndarray | None = None
    insertion_order: np.ndarray | None = None
    # a filter workload's description and, per query, its realised selectivity and alpha
    workload_info: dict[str, Any] = field(default_factory=dict)
    query_selectivity: np.ndarray | None = None
    query_alpha: np.ndarray | None = None
    points: list[SweepPoint] = field(default_factory=list)
    # a runbook: one record per step (step, kind, points, active, seconds, rss_bytes)
    steps: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    # how this run went on its machine: phase time stamps (``timeline_ns``), whether the
    # dataset was memory-mapped, the CPUs an executor pinned it to
    run_info: dict[str, Any] = field(default_factory=dict)


def result_path(results_dir: str | os.PathLike, job: Job) -> Path:
    """Where the job's result lives: RESULTS/<dataset>/<adapter>/<run id>.h5, checked to stay
    inside the results folder."""
    return inside(
        results_dir,
        check_name(job.dataset, "dataset name"),
        check_name(job.adapter, "adapter name"),
        f"{job.run_id}{SUFFIX}",
    )


def failed_rerun_path(results_dir: str | os.PathLike, job: Job) -> Path:
    """Where a failed rerun of a job stored as ok is kept, beside the good result."""
    return result_path(results_dir, job).with_suffix(FAILED_RERUN)


def staging_path(results_dir: str | os.PathLike, job: Job) -> Path:
    """Where a worker writes its result before the executor commits it. The name holds this
    process's id, so a later sweep can tell a leftover of a dead sweep from one in flight."""
    final = result_path(results_dir, job)
    return final.with_name(f"{job.run_id}.{os.getpid()}{STAGING}")


def write_result_file(path: str | os.PathLike, result: RunResult) -> Path:
    """Write one result file at ``path`` (atomically: readers never see half a file)."""
    import h5py

    path = Path(path)
    ensure_folder(path.parent)
    partial = path.with_name(path.name + PARTIAL)
    try:
        with os_errors(path), h5py.File(partial, "w") as f:
            _write_attrs(f, result)
            _write_arrays(f, result)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def commit_result(results_dir: str | os.PathLike, job: Job, staged: str | os.PathLike) -> Path:
    """Move a staged result into the store; return where it now lives.

    A good result replaces whatever was stored (and clears a failed rerun recorded beside it).
    A failure never replaces a good result: it is kept beside it as ``<run id>.failed.h5``.
    """
    final = result_path(results_dir, job)
    beside = failed_rerun_path(results_dir, job)
    if read_summary(staged)["status"] == "ok":
        os.replace(staged, final)
        beside.unlink(missing_ok=True)
        return final
    if stored_status(results_dir, job) == "ok":
        os.replace(staged, beside)
        return beside
    os.replace(staged, final)
    return final


def store_result(results_dir: str | os.PathLike, result: RunResult) -> Path:
    """Write and commit a result measured (or failed) in this process."""
    staged = staging_path(results_dir, result.job)
    try:
        write_result_file(staged, result)
        return commit_result(results_dir, result.job, staged)
    finally:
        staged.unlink(missing_ok=True)


def clean_staging(results_dir: str | os.PathLike) -> int:
    """Remove staged files left by sweeps that died before committing them; return how many."""
    removed = 0
    for path in Path(results_dir).glob(f"*/*/*{STAGING}"):
        owner = path.name[: -len(STAGING)].rpartition(".")[2]
        if owner.isdigit() and int(owner) != os.getpid() and _alive(int(owner)):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_attrs(f, result: RunResult) -> None:
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["job"] = result.job.to_json()
    f.attrs["status"] = result.status
    f.attrs["error"] = result.error
    f.attrs["environment"] = json.dumps(result.environment, sort_keys=True, default=str)
    if result.workload_info:
        f.attrs["workload"] = json.dumps(result.workload_info, sort_keys=True)
    if result.steps:
        f.attrs["steps"] = json.dumps(result.steps, sort_keys=True)
    if result.run_info:
        f.attrs["run_info"] = json.dumps(result.run_info, sort_keys=True)
    f.attrs["started_at"] = result.started_at
    f.attrs["finished_at"] = result.finished_at
    for key in MEASURES:
        value = getattr(result, key)
        f.attrs[key] = -1 if value is None else int(value)


def _write_arrays(f, result: RunResult) -> None:
    for name in ("query_selectivity", "query_alpha"):
        if getattr(result, name) is not None:
            f.create_dataset(f"workload/{name}", data=getattr(result, name))
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
        if point.step is not None:
            group.attrs["step"] = point.step
            group.create_dataset("truth_ids", data=np.asarray(point.truth_ids, np.int64))
            group.create_dataset("truth_distances", data=np.asarray(point.truth_distances))
        if point.clients is not None:
            for name in CLIENT_ATTRS:
                group.attrs[name] = getattr(point, name)
            group.attrs["client_completed"] = json.dumps(point.client_completed)
        if point.ingest_rate is not None:
            group.attrs["ingest_rate"], group.attrs["ingested"] = point.ingest_rate, point.ingested
            group.create_dataset("ingest_counts", data=np.asarray(point.ingest_counts, np.int64))
            group.create_dataset("query_rows", data=np.asarray(point.query_rows, np.int64))


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
    """Every stored result file, failed reruns kept beside good results included."""
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
        if "job" not in f.attrs or "status" not in f.attrs:
            raise UserError(
                f"{path} is an HDF5 file but not an annbench result (no job or status); "
                "move it out of the results folder"
            )
        version = int(f.attrs.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise NewerFormat(
                f"{path} has result schema version {version}, newer than this annbench "
                f"understands ({SCHEMA_VERSION}); upgrade annbench to read it"
            )
        attrs = dict(f.attrs)
        try:
            job = Job.from_json(attrs["job"])
        except (TypeError, ValueError) as exc:
            raise UserError(f"{path} holds an unreadable job ({exc}); delete it to rerun") from None
        result = RunResult(
            job=job,
            status=str(attrs["status"]),
            error=str(attrs.get("error", "")),
            environment=json.loads(attrs.get("environment", "{}")),
            started_at=str(attrs.get("started_at", "")),
            finished_at=str(attrs.get("finished_at", "")),
            run_info=json.loads(attrs.get("run_info", "{}")),
        )
        for key in MEASURES:
            value = int(attrs.get(key, -1))
            setattr(result, key, None if value < 0 else value)
        if "ground_truth" in f:
            result.ground_truth_ids = f["ground_truth/ids"][:]
            result.ground_truth_distances = f["ground_truth/distances"][:]
        if "insertion_order" in f:
            result.insertion_order = f["insertion_order"][:]
        result.workload_info = json.loads(attrs.get("workload", "{}"))
        for name in ("query_selectivity", "query_alpha"):
            if f"workload/{name}" in f:
                setattr(result, name, f[f"workload/{name}"][:])
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
                    step=int(group.attrs["step"]) if "step" in group.attrs else None,
                    truth_ids=group["truth_ids"][:] if "truth_ids" in group else None,
                    truth_distances=(
                        group["truth_distances"][:] if "truth_distances" in group else None
                    ),
                    **_client_fields(group.attrs),
                    ingest_counts=group["ingest_counts"][:] if "ingest_counts" in group else None,
                    query_rows=group["query_rows"][:] if "query_rows" in group else None,
                )
            )
        result.steps = json.loads(attrs.get("steps", "[]"))
    return result


def _client_fields(attrs) -> dict[str, Any]:
    if "clients" not in attrs:
        return {}
    fields = {name: _plain(attrs[name]) for name in CLIENT_ATTRS}
    fields["client_completed"] = json.loads(attrs["client_completed"])
    if "ingest_rate" in attrs:
        fields["ingest_rate"] = float(attrs["ingest_rate"])
        fields["ingested"] = int(attrs["ingested"])
    return fields


def _plain(value):
    return value.item() if hasattr(value, "item") else str(value)


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
