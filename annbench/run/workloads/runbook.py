"""The runbook workload: a streaming sequence of timed inserts and deletes, with the query
sweep measured at every search step against that step's exact ground truth.

The first insert builds the index (``adapter.build``: an index that trains, trains on it);
later inserts go through ``adapter.insert``, deletes through ``adapter.delete``. Each step's
record holds its kind, points, the active count after it, its time and the process's
resident memory after it. An answer holding a point that is not active at that step (deleted,
or never inserted) fails the run: an index that claims deletes must honour them.
"""

from __future__ import annotations

import time

import numpy as np

from annbench.datasets.runbook_truth import ingest_truth
from annbench.errors import AdapterError
from annbench.run.threads import thread_limit
from annbench.run.workloads.static import sweep
from annbench.store.jobs import Job


def _rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class _StepView:
    """What the static sweep needs of a dataset, for one search step: its base (for true
    distances) and the step's queries."""

    def __init__(self, base: np.ndarray, queries: np.ndarray) -> None:
        self.base, self.queries = base, queries


def run(adapter, base, base_seen, query_sets, query_sets_seen, job: Job, steps, truth):
    """Drive ``adapter`` through ``steps`` (resolved runbook steps); ``base_seen`` and
    ``query_sets_seen`` are the vectors as the adapter sees them (normalised for angular),
    ``truth`` the per-search-step (ids, distances). Returns (points, step records)."""
    from annbench.run.runbooks import capacity

    adapter.capacity = capacity(steps)
    active = np.zeros(len(base), dtype=bool)
    built, points, records, search_number = False, [], [], 0
    ceilings: dict = {}
    for index, step in enumerate(steps):
        ingested = searched = None
        if step.during:
            continue  # inserted by the search step before it, while its clients searched
        start = time.perf_counter_ns()
        if step.kind == "insert":
            vectors = np.ascontiguousarray(base_seen[step.ids])
            with thread_limit(job.build_threads):
                start = time.perf_counter_ns()
                if built:
                    adapter.insert(vectors, step.ids.copy())
                else:
                    adapter.build(vectors, step.ids.copy())
                elapsed = time.perf_counter_ns() - start
            built = True
            active[step.ids] = True
        elif step.kind == "delete":
            with thread_limit(job.build_threads):
                start = time.perf_counter_ns()
                adapter.delete(step.ids.copy())
                elapsed = time.perf_counter_ns() - start
            active[step.ids] = False
        else:
            ids_true, distances_true = truth[search_number]
            view = _StepView(base, query_sets[step.queries])
            seen = query_sets_seen[step.queries]
            ingested = steps[index + 1] if step.clients and "rate" in step.clients else None
            if step.clients:
                found = _clients_step(adapter, view, seen, job, step, ceilings, ingested, base_seen)
            else:
                found = sweep(adapter, view, seen, job)
            elapsed = time.perf_counter_ns() - start
            searched = int(active.sum())  # what the step's exact truth covers
            allowed = active.copy()
            if ingested is not None:
                allowed[ingested.ids] = True
            for point in found:
                _check_active(point.ids, allowed, step.number)
                point.step = step.number
                if point.ingest_counts is None:
                    point.truth_ids = ids_true[:, : job.k]
                    point.truth_distances = distances_true[:, : job.k]
                else:
                    rows = point.query_rows
                    point.truth_ids, point.truth_distances = ingest_truth(
                        base, view.queries[rows], ids_true[rows], ingested.ids,
                        point.ingest_counts, job.metric, job.k,
                    )  # fmt: skip
            points += found
            search_number += 1
            active = allowed
        records.append(
            {
                "step": step.number,
                "kind": step.kind,
                "points": int(len(step.ids)),
                "active": int(active.sum()) if searched is None else searched,
                "seconds": elapsed / 1e9,
                "rss_bytes": _rss_bytes(),
                "queries": step.queries,
                **(
                    {"ingested": int(len(ingested.ids))}
                    if step.kind == "search" and ingested
                    else {}
                ),
            }
        )
    return points, records


def _clients_step(adapter, view, queries, job: Job, step, ceilings, ingested, base_seen):
    """A search step by concurrent clients: every query point, in the adapter's client mode
    (as threads when the step ingests, so that the quiet and the ingesting measurements run
    alike); then, when it ingests, the first query point again while the step's points are
    inserted at its rate (and the rest of them after)."""
    from annbench.run.workloads import clients

    options = step.clients
    mode = job.client_mode if ingested is None else "thread"

    def measure(params, ingest=None):
        return clients.measure(
            adapter, view, queries, job, params, options["clients"], mode, ceilings,
            duration_s=options["duration"], warmup_s=options["warmup"], ingest=ingest,
        )  # fmt: skip

    found = [measure(params) for params in job.query_params]
    if ingested is not None:
        vectors = np.ascontiguousarray(base_seen[ingested.ids])
        ingest = clients.Ingest(adapter, vectors, ingested.ids, options["rate"])
        found.append(measure(job.query_params[0], ingest))
        ingest.finish()
    return found


def _check_active(ids: np.ndarray, active: np.ndarray, step: int) -> None:
    returned = ids[ids >= 0]
    inactive = returned[~active[returned]]
    if len(inactive):
        raise AdapterError(
            f"step {step}: returned {len(inactive)} ids that are not active (deleted or never "
            f"inserted; first: {int(inactive[0])}); an index that declares delete must honour it"
        )
