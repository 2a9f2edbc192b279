"""The conformance suite every adapter must pass, as a library function: small seeded data,
the adapter driven directly, every problem reported in words.

Checks, for each metric the spec lists: answers of shape (nq, k) with ids in range and none
repeated; returned distances ascending (smaller is closer); for an exact adapter, neighbours
nearest-first by true distance and recall 1.0; the
original ids returned when the base arrives in a shuffled insertion order; the query
parameters changing the answers; a second build with the same seed on one thread giving the
same answers, unless the spec says ``repeatable: false``; and a clear error for a metric the
adapter does not support.
"""

from __future__ import annotations

import numpy as np

from annbench.adapters.registry import AdapterSpec, load_adapter_class
from annbench.run.plan import grid_points

N_BASE, N_QUERIES, DIMENSION, K = 2000, 50, 16, 10
ORDER_TOLERANCE = 0.05
UNSUPPORTED = "hamming"


def conformance_problems(spec: AdapterSpec, seed: int = 0) -> list[str]:
    """Everything ``spec``'s adapter gets wrong (an empty list when it conforms)."""
    from annbench.analysis.metrics import recall_at_k
    from annbench.datasets.groundtruth import exact_distances, exact_knn, normalized
    from annbench.run.workloads.answers import checked_output

    adapter_class = load_adapter_class(spec.module_path, spec.class_name)
    rng = np.random.default_rng(seed)
    raw_base = rng.standard_normal((N_BASE, DIMENSION), dtype=np.float32)
    raw_queries = rng.standard_normal((N_QUERIES, DIMENSION), dtype=np.float32)
    build = {key: values[0] for key, values in spec.build_grid.items()}
    query_points = grid_points(spec.query_grid)
    problems = []

    def answers(metric, base, queries, order):
        adapter = adapter_class(metric, seed=seed, build_threads=1, **build)
        adapter.build(np.ascontiguousarray(base[order]), order.copy())
        found = []
        for params in query_points:
            adapter.set_query_params(**params)
            ids, distances = checked_output(*adapter.search(queries, K), N_QUERIES, K, N_BASE)
            claimed = np.where(ids >= 0, distances.astype(np.float64), np.finfo(np.float64).max)
            if np.any(np.diff(claimed, axis=1) < -1e-6 * (1 + np.abs(claimed[:, 1:]))):
                problems.append(
                    f"{spec.name} ({metric}) {params}: returned distances do not "
                    "ascend (smaller must mean closer)"
                )
            found.append(ids)
        adapter.close()
        return found

    for metric in spec.metrics:
        base, queries = raw_base, raw_queries
        if metric == "angular":
            base, queries = normalized(base), normalized(queries)
        truth, _ = exact_knn(base, queries, metric, K, progress=False)
        where = f"{spec.name} ({metric})"
        try:
            found = answers(metric, base, queries, np.arange(N_BASE))
            shuffled = answers(metric, base, queries, rng.permutation(N_BASE))
            again = found  # one repeated build, on the first metric, is evidence enough
            if metric == spec.metrics[0]:
                again = answers(metric, base, queries, np.arange(N_BASE))
        except Exception as exc:  # every failure is a finding, whatever its type
            problems.append(f"{where}: {type(exc).__name__}: {exc}")
            continue
        for params, ids in zip(query_points, found if spec.exact else []):
            true = exact_distances(base, queries, ids, metric)
            true = np.where(np.isfinite(true), true, np.finfo(np.float64).max)  # padding last
            slack = 1e-4 * np.abs(true[:, 1:]) + 1e-6
            if np.any(np.diff(true, axis=1) < -slack):
                problems.append(f"{where} {params}: neighbours are not returned nearest-first")
        if spec.repeatable and not all(map(np.array_equal, found, again)):
            problems.append(
                f"{where}: two builds with seed {seed} on one thread answer differently; seed "
                "every random choice of the build, or declare 'repeatable: false' in its spec"
            )
        recall = [recall_at_k(ids, truth, K).mean() for ids in found]
        recall_shuffled = [recall_at_k(ids, truth, K).mean() for ids in shuffled]
        if spec.exact and min(recall + recall_shuffled) < 1.0:
            problems.append(f"{where}: exact adapter with recall {min(recall):.3f}, not 1.000")
        if recall_shuffled[-1] < recall[-1] - ORDER_TOLERANCE:
            problems.append(
                f"{where}: recall {recall_shuffled[-1]:.3f} after a shuffled "
                f"insertion order against {recall[-1]:.3f}; are original ids returned?"
            )
        if len(found) > 1 and not spec.exact and np.array_equal(found[0], found[-1]):
            problems.append(
                f"{where}: query parameters {query_points[0]} and "
                f"{query_points[-1]} give identical answers"
            )
    try:
        adapter_class(UNSUPPORTED, **build)
        problems.append(f"{spec.name}: accepted the unsupported metric {UNSUPPORTED!r}")
    except Exception as exc:
        if UNSUPPORTED not in str(exc):
            problems.append(
                f"{spec.name}: the error for an unsupported metric does not name it "
                f"({type(exc).__name__}: {exc})"
            )
    return problems
