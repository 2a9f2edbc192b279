"""The conformance suite every adapter must pass, as a library function: small seeded data,
the adapter driven directly, every problem reported in words.

Checks, for each metric the spec lists: answers of shape (nq, k) with ids in range and none
repeated; returned distances ascending (smaller is closer); for an exact adapter, neighbours
nearest-first by true distance and recall 1.0; the original ids returned when the base
arrives in a shuffled insertion order; the query parameters changing the answers; a second
build with the same seed on one thread giving the same answers (searched on one thread too),
unless the spec says ``repeatable: false``; a clear error for a metric the adapter does not
support; for every filter kind the spec declares, answers from ``filtered_search`` that all
pass their query's filter (an exact adapter: the exact filtered top-k); and, for the
streaming operations the spec declares (``supports``), inserted vectors found and deleted
ones never returned.
"""

from __future__ import annotations

import numpy as np

from annbench.adapters.registry import AdapterSpec, load_adapter_class
from annbench.run.plan import grid_points
from annbench.run.threads import thread_limit

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
        with thread_limit(1):  # one thread, as the worker caps them: answers that can repeat
            return one_thread_answers(metric, base, queries, order)

    def one_thread_answers(metric, base, queries, order):
        adapter = adapter_class(metric, seed=seed, build_threads=1, **build)
        adapter.search_threads = 1
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
    if spec.filters:
        problems += _filter_problems(spec, adapter_class, build, query_points[-1], seed)
    if spec.supports:
        problems += streaming_problems(spec, seed)
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


FILTER_SELECTIVITY = 0.1


def _filter_problems(spec: AdapterSpec, adapter_class, build, params, seed: int) -> list[str]:
    """Every declared filter kind, answered by ``filtered_search`` at the most generous query
    parameters: answers that fail their filter, or (exact adapters) miss the filtered truth."""
    from annbench.analysis.metrics import recall_at_k
    from annbench.datasets.attributes import make_attributes, make_filter_workload
    from annbench.datasets.synthetic import make_synthetic
    from annbench.run.workloads.answers import checked_output

    metric = spec.metrics[0]
    params_blobs = {"n": N_BASE, "n_queries": N_QUERIES, "dim": DIMENSION}
    dataset = make_synthetic("blobs", params_blobs, seed=seed, metric=metric)
    attributes = make_attributes(dataset, seed=seed, n_labels=20)
    problems = []
    for kind in spec.filters:
        where = f"{spec.name} ({metric}, {kind} filters)"
        selectivity = None if kind == "label" else FILTER_SELECTIVITY
        workload = make_filter_workload(dataset, attributes, kind, selectivity, "none", seed=seed)
        try:
            adapter = adapter_class(metric, seed=seed, build_threads=1, **build)
            adapter.attributes = attributes
            adapter.build(np.ascontiguousarray(dataset.base), np.arange(N_BASE))
            adapter.set_query_params(**params)
            ids, _ = checked_output(
                *adapter.filtered_search(dataset.queries, K, workload.filters),
                N_QUERIES,
                K,
                N_BASE,
            )
            adapter.close()
        except Exception as exc:  # every failure is a finding, whatever its type
            problems.append(f"{where}: {type(exc).__name__}: {exc}")
            continue
        failing = [
            i for i in range(N_QUERIES) if not workload.filters.passes(attributes, i, ids[i]).all()
        ]
        if failing:
            problems.append(
                f"{where}: {len(failing)} of {N_QUERIES} answers hold ids that fail their "
                f"filter (first: query {failing[0]}, {workload.filters.describe(failing[0])})"
            )
        recall = recall_at_k(ids, workload.neighbors, K).mean()
        if spec.exact and recall < 1.0:
            problems.append(f"{where}: exact adapter with filtered recall {recall:.3f}, not 1.000")
    return problems


# inserted vectors must be found about as well as built ones: the recall over the true
# neighbours that were inserted may trail the recall over those built by at most this much
INSERTED_TOLERANCE = 0.2


def streaming_problems(spec: AdapterSpec, seed: int = 0) -> list[str]:
    """What ``spec``'s adapter gets wrong in the streaming operations its spec declares
    (``supports``), on the labelled blobs of ``_filter_problems``: build on half of the base
    (ids shuffled, so never positions), insert the other half, delete every vector of the
    label nearest the queries, searching at the most generous query parameters after each
    step. Problems: inserted vectors not found, deleted ids returned, and (exact adapters)
    recall below 1.0 over the vectors present."""
    from annbench.datasets.synthetic import make_synthetic

    adapter_class = load_adapter_class(spec.module_path, spec.class_name)
    build = {key: values[0] for key, values in spec.build_grid.items()}
    params = grid_points(spec.query_grid)[-1]
    metric = spec.metrics[0]
    params_blobs = {"n": N_BASE, "n_queries": N_QUERIES, "dim": DIMENSION}
    dataset = make_synthetic("blobs", params_blobs, seed=seed, metric=metric)
    base, queries = dataset.base, dataset.queries
    if metric == "angular":
        from annbench.datasets.groundtruth import normalized

        base, queries = normalized(base), normalized(queries)
    order = np.random.default_rng(seed).permutation(N_BASE)
    built, inserted = order[: N_BASE // 2], order[N_BASE // 2 :]
    where = f"{spec.name} ({metric}, streaming)"
    problems = []
    try:
        adapter = adapter_class(metric, seed=seed, build_threads=1, **build)
        adapter.capacity = N_BASE if "insert" in spec.supports else len(built)
        adapter.build(np.ascontiguousarray(base[built]), built.copy())
        present = built
        if "insert" in spec.supports:
            adapter.insert(np.ascontiguousarray(base[inserted]), inserted.copy())
            present = order
        ids, truth = _stream_search(adapter, params, base, queries, present, metric)
        problems += _insert_problems(where, spec, ids, truth, inserted, params)
        if "delete" in spec.supports:
            labels = dataset.labels
            label = np.bincount(labels[truth.ravel()]).argmax()  # the queries' nearest label
            deleted = present[labels[present] == label]
            adapter.delete(deleted.copy())
            present = present[labels[present] != label]
            ids, truth = _stream_search(adapter, params, base, queries, present, metric)
            problems += _delete_problems(where, spec, ids, truth, deleted, params)
        adapter.close()
    except Exception as exc:  # every failure is a finding, whatever its type
        problems.append(f"{where}: {type(exc).__name__}: {exc}")
    return problems


def _stream_search(adapter, params, base, queries, present, metric: str):
    """The adapter's checked answers at ``params``, and the exact top-k ids among ``present``."""
    from annbench.datasets.groundtruth import exact_knn
    from annbench.run.workloads.answers import checked_output

    adapter.set_query_params(**params)
    ids, _ = checked_output(*adapter.search(queries, K), N_QUERIES, K, N_BASE)
    positions, _ = exact_knn(base[present], queries, metric, K, progress=False)
    return ids, present[positions]


def _exact_problem(where, spec: AdapterSpec, ids, truth, after: str) -> list[str]:
    """An exact adapter must still find every true neighbour after ``after``."""
    from annbench.analysis.metrics import recall_at_k

    recall = recall_at_k(ids, truth, K).mean()
    if spec.exact and recall < 1.0:
        return [f"{where}: exact adapter with recall {recall:.3f} after {after}, not 1.000"]
    return []


def _insert_problems(where, spec: AdapterSpec, ids, truth, inserted, params) -> list[str]:
    problems = []
    step = "inserts" if "insert" in spec.supports else "build"
    if step == "inserts":
        new = np.isin(truth, inserted)
        found = (ids[:, :, None] == truth[:, None, :]).any(axis=1)
        found_new, found_old = found[new].mean(), found[~new].mean()
        if found_new < found_old - INSERTED_TOLERANCE:
            problems.append(
                f"{where} {params}: found {found_new:.3f} of the true neighbours inserted after "
                f"build against {found_old:.3f} of those built; are inserted vectors searched?"
            )
    return problems + _exact_problem(where, spec, ids, truth, step)


def _delete_problems(where, spec: AdapterSpec, ids, truth, deleted, params) -> list[str]:
    problems = []
    returned = np.unique(ids[np.isin(ids, deleted)])
    if len(returned):
        problems.append(
            f"{where} {params}: returned {len(returned)} deleted ids after delete "
            f"(first: {', '.join(map(str, returned[:5].tolist()))})"
        )
    return problems + _exact_problem(where, spec, ids, truth, "delete")


SUITES = {"static": conformance_problems, "streaming": streaming_problems}
# the line carrying the problems (a library may print to standard output too)
MARKER = "annbench-conformance: "
SUBPROCESS_TIMEOUT_S = 900


def problems_where_it_runs(spec: AdapterSpec, suite: str = "static") -> list[str]:
    """A conformance suite (``static`` or ``streaming``) of ``spec``, run in this process, or
    under the interpreter of the adapter's own environment when its spec names one."""
    if not spec.python:
        return SUITES[suite](spec)
    import json
    import subprocess

    command = [spec.python, "-m", "annbench.run.conformance", spec.name, "--suite", suite]
    where = f"{spec.name}: conformance under {spec.python}"
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=SUBPROCESS_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return [f"{where} took over {SUBPROCESS_TIMEOUT_S} s (a hang?)"]
    found = [line.split(MARKER, 1)[1] for line in done.stdout.splitlines() if MARKER in line]
    if done.returncode != 0 or not found:
        lines = (done.stderr.strip() or f"exit status {done.returncode}").splitlines()
        return [f"{where} failed: {lines[-1]}"]
    return json.loads(found[-1])


def main(argv: list[str] | None = None) -> None:
    """``python -m annbench.run.conformance NAME [--suite static|streaming]``: the problems
    found, as a JSON list after ``MARKER`` on a line of standard output."""
    import argparse
    import json

    from annbench.adapters.registry import get_adapter

    parser = argparse.ArgumentParser(prog="python -m annbench.run.conformance")
    parser.add_argument("name")
    parser.add_argument("--suite", choices=sorted(SUITES), default="static")
    args = parser.parse_args(argv)
    print(MARKER + json.dumps(SUITES[args.suite](get_adapter(args.name))), flush=True)


if __name__ == "__main__":
    main()
