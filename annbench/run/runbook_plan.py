"""Runbooks in an experiment: the spec's ``runbooks:`` entries (a file, or a generator with
its parameters), each turned into one runbook per dataset, checked against that dataset, its
per-step ground truth computed ahead of the run and cached beside the dataset file.

    runbooks:
      - runbooks/window.yml
      - {generator: sliding-window, steps: 10, window: 4}
      - {generator: clustered-arrival, window: 3}
      - {name: at-once, steps: [{insert: {all: true}}, {search: {}}]}   # inline
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from annbench.errors import UserError
from annbench.run import runbook_generators as generators
from annbench.run.runbooks import active_sets, check_shape, read_runbook, resolve
from annbench.store.jobs import runbook_dataset_hash, runbook_digest

BUILDERS = {
    "grow-only": generators.grow_only,
    "sliding-window": generators.sliding_window,
    "clustered-arrival": generators.clustered_arrival,
    "random-mix": generators.random_mix,
}
WORKLOAD_PREFIX = "runbook:"


def check_entries(value: Any, where: str) -> list[Any]:
    """The spec's ``runbooks`` list: file paths or ``{generator: NAME, ...}`` mappings."""
    entries = value if isinstance(value, list) else [value]
    for entry in entries:
        if isinstance(entry, str) and entry:
            continue
        if isinstance(entry, dict) and "generator" not in entry:  # a runbook written inline
            check_shape({"name": "inline", **entry}, where)
            continue
        if isinstance(entry, dict) and entry.get("generator") in BUILDERS:
            builder = BUILDERS[entry["generator"]]
            allowed = set(inspect.signature(builder).parameters) - {"n", "labels"}
            unknown = set(entry) - allowed - {"generator"}
            if unknown:
                raise UserError(
                    f"{where}: runbook generator {entry['generator']!r} takes "
                    f"{', '.join(sorted(allowed))}; unknown {', '.join(sorted(unknown))}"
                )
            continue
        raise UserError(
            f"{where}: a runbook is a file path, a runbook with 'steps', or "
            f"{{generator: NAME, ...}} with NAME one of "
            f"{', '.join(BUILDERS)}; got {entry!r}"
        )
    return entries


def runbook_data(entry: Any, n: int, labels) -> dict[str, Any]:
    """The runbook an entry means for a dataset of ``n`` vectors (with ``labels``)."""
    if isinstance(entry, str):
        return read_runbook(entry)
    if "generator" not in entry:
        return check_shape(
            {"name": f"inline-{runbook_digest(entry)[:8]}", **entry}, "inline runbook"
        )
    params = {key: value for key, value in entry.items() if key != "generator"}
    builder = BUILDERS[entry["generator"]]
    try:
        if entry["generator"] == "clustered-arrival":
            if labels is None:
                raise UserError("the clustered-arrival runbook needs a dataset with labels")
            return builder(labels, **params)
        return builder(n, **params)
    except (TypeError, ValueError) as exc:
        raise UserError(f"runbook generator {entry['generator']!r}: {exc}") from None


def query_sets(data: dict[str, Any], dataset_path: Path, name: str) -> dict[str, Path]:
    """The query sets the runbook's searches name, as dataset files beside ``dataset_path``
    made from this dataset (``datasets queries`` / ``datasets ood``)."""
    from annbench.datasets.store import dataset_info

    found = {}
    for number, step in enumerate(data["steps"], 1):
        kind, options = next(iter(step.items()))
        wanted = (options or {}).get("queries", "") if kind == "search" else ""
        if not wanted or wanted in found:
            continue
        path = dataset_path.with_name(f"{wanted}{dataset_path.suffix}")
        where = f"runbook {data['name']} step {number} (search)"
        if not path.exists():
            raise UserError(f"{where}: unknown query set {wanted!r} ({path} does not exist)")
        if dataset_info(path)["source"].get("parent") != name:
            raise UserError(
                f"{where}: query set {wanted!r} was not made from dataset {name!r}; make it "
                f"with `annbench datasets queries {name} ...` or `datasets ood {name} ...`"
            )
        found[wanted] = path
    return found


def prepare(
    data: dict[str, Any], dataset, dataset_path: str, name: str, k: int
) -> tuple[str, str, list[str]]:
    """Check the runbook against ``dataset`` (loaded from ``dataset_path``) and make sure its
    per-step ground truth is cached; return (workload name, dataset+runbook hash, what the
    runbook needs of an adapter: "insert" beyond its first step, "delete", "ingest" (inserts
    while clients search), "clients" (concurrent clients without ingestion))."""
    from annbench.datasets.runbook_truth import (
        read_step_truth,
        runbook_content,
        step_ground_truth,
        truth_path,
        write_step_truth,
    )
    from annbench.datasets.store import load_dataset

    path = Path(dataset_path)
    steps = resolve(
        data, len(dataset.base), labels=dataset.labels, lid=dataset.lid, where=data["name"]
    )
    named = query_sets(data, path, name)  # each named set exists and comes from this dataset
    content, digest = runbook_content(path, sorted(named)), runbook_digest(data)
    cache = truth_path(path, digest, k)
    if read_step_truth(cache, content, digest) is None:
        sets = {"": dataset.queries}
        sets.update({q: load_dataset(f, workloads="").queries for q, f in named.items()})
        searches = [(step.queries, mask) for step, mask in active_sets(steps, len(dataset.base))]
        truth = step_ground_truth(dataset.base, sets, dataset.metric, searches, k)
        write_step_truth(cache, truth, content, digest)
    needs = []
    if sum(step.kind == "insert" for step in steps) > 1:
        needs.append("insert")
    if any(step.kind == "delete" for step in steps):
        needs.append("delete")
    if any(step.during for step in steps):
        needs.append("ingest")
    if any(step.clients and "rate" not in step.clients for step in steps):
        needs.append("clients")
    return f"{WORKLOAD_PREFIX}{data['name']}", runbook_dataset_hash(content, data), needs
