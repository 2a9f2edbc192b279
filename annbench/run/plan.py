"""Experiment spec (YAML) -> list of Jobs.

An experiment names datasets, adapters (optionally overriding grid values) and k::

    datasets: [blobs-10k-32]
    k: 10
    repeats: 3          # measured passes per query-sweep point, after `warmup`
    warmup: 1
    timeout: 900        # seconds per job
    seeds: [0]          # one build per seed (the seed also drives a seeded insertion order)
    orders: [original]  # insertion orders, an axis like a build parameter (annbench.orders)
    build_threads: [1, 2]   # an axis of builds (default null: the library's own choice)
    search_threads: [1, 2]  # per build, every query point is measured with each
    modes: [batch, single]  # batch: all queries in one call; single: one call per query
    clients: [1, 2, 4]  # concurrent clients instead of the sweep's modes (docs/CONCURRENCY.md)
    duration: 10        # seconds per client level, after client_warmup (default 1) seconds
    adapters:
      - faiss-flat
      - name: hnswlib
        build: {M: [8, 16]}
        query: {ef: [10, 40]}
      - name: chroma
        seeds: [0, 1, 2, 3, 4]   # this adapter's own builds, in place of the top-level seeds

Every combination of a dataset, an adapter and a point of its build grid is one Job; the
query grid rides along inside the Job, because one build serves the whole query sweep.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annbench.adapters.params import ParamRule, checked_grid, checked_list
from annbench.errors import UserError, refuse_unknown_keys
from annbench.errors.files import read_yaml
from annbench.errors.names import check_name
from annbench.run.orders import NEEDS_LABELS, NEEDS_LID, ORDERS
from annbench.run.runbook_plan import check_entries
from annbench.store.jobs import Job

EXPERIMENT_KEYS = {
    "datasets",
    "adapters",
    "k",
    "repeats",
    "warmup",
    "timeout",
    "seeds",
    "orders",
    "build_threads",
    "search_threads",
    "modes",
    "runbooks",
    "clients",
    "duration",
    "client_warmup",
}
MODES = ("batch", "single")
ADAPTER_KEYS = {"name", "build", "query", "seeds", "strategy", "overfetch"}
STRATEGIES = ("native", "postfilter")
OVERFETCH_RULE = ParamRule("float", min=1.0)
DEFAULT_OVERFETCH = [1.0, 2.0, 4.0]
DEFAULTS = {
    "k": 10,
    "repeats": 3,
    "warmup": 1,
    "timeout": 900,
    "seeds": [0],
    "orders": ["original"],
    "build_threads": [None],
    "search_threads": [None],
    "modes": ["batch"],
}


@dataclass
class Experiment:
    datasets: list[str]
    adapters: list[dict[str, Any]]
    # dataset -> its workloads ("" = the static sweep; "all" = every filter workload); a
    # dataset not named here runs the static sweep only
    workloads: dict[str, list[str]] = field(default_factory=dict)
    k: int = 10
    repeats: int = 3
    warmup: int = 1
    timeout: float = 900
    seeds: list[int] = field(default_factory=lambda: [0])
    orders: list[str] = field(default_factory=lambda: ["original"])
    build_threads: list[int | None] = field(default_factory=lambda: [None])
    search_threads: list[int | None] = field(default_factory=lambda: [None])
    modes: list[str] = field(default_factory=lambda: ["batch"])
    # streaming runbooks run on every dataset (files or {generator: NAME, ...}); none: static
    runbooks: list[Any] = field(default_factory=list)
    # concurrent clients: the levels, and the seconds each is measured for (after a warmup)
    clients: list[int] = field(default_factory=list)
    duration: float = 10.0
    client_warmup: float = 1.0


def default_experiment_path() -> Path:
    return Path(__file__).with_name("default_experiment.yml")


PROFILES = ("vendor-defaults",)


def profile_path(name: str) -> Path:
    if name not in PROFILES:
        raise UserError(f"unknown profile {name!r}; profiles: {', '.join(PROFILES)}")
    return Path(__file__).parent / "profiles" / f"{name}.yml"


Warn = Callable[[str], None]


def read_experiment(path: str | os.PathLike, warn: Warn | None = None) -> Experiment:
    """Parse and check an experiment spec file."""
    raw = read_yaml(path, "experiment spec")
    return parse_experiment(raw, where=str(path), warn=warn)


def parse_experiment(raw: Any, where: str = "experiment", warn: Warn | None = None) -> Experiment:
    """Check every value of a spec (types, ranges, non-empty lists); duplicates in a list are
    dropped with a warning. Adapter parameters are checked by ``expand``, against the types
    and ranges each adapter's spec file declares."""
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a mapping with keys {sorted(EXPERIMENT_KEYS)}")
    refuse_unknown_keys(raw, EXPERIMENT_KEYS, where)
    for key in ("datasets", "adapters"):
        if not raw.get(key):
            raise UserError(f"{where}: '{key}' must list at least one entry")
    merged = {**DEFAULTS, **raw}
    datasets, workloads = parse_dataset_entries(merged["datasets"], where, warn)
    modes = _listed(merged["modes"], "modes", where, warn, _choice(MODES, "mode"))
    orders = _listed(merged["orders"], "orders", where, warn, _choice(ORDERS, "order"))
    return Experiment(
        datasets=datasets,
        workloads=workloads,
        adapters=[_adapter_entry(entry, where, warn) for entry in _as_list(merged["adapters"])],
        k=_integer(merged["k"], "k", where, minimum=1),
        repeats=_integer(merged["repeats"], "repeats", where, minimum=1),
        warmup=_integer(merged["warmup"], "warmup", where, minimum=0),
        timeout=_timeout(merged["timeout"], where),
        seeds=_seeds(merged["seeds"], where, warn),
        orders=orders,
        build_threads=_thread_counts(merged["build_threads"], "build_threads", where, warn),
        search_threads=_thread_counts(merged["search_threads"], "search_threads", where, warn),
        modes=modes,
        runbooks=check_entries(merged["runbooks"], where) if "runbooks" in merged else [],
        clients=_client_levels(merged.get("clients"), where, warn),
        duration=_seconds(merged.get("duration", 10.0), "duration", where, positive=True),
        client_warmup=_seconds(merged.get("client_warmup", 1.0), "client_warmup", where),
    )


def _client_levels(value: Any, where: str, warn: Warn | None) -> list[int]:
    def level(item: Any, place: str) -> int:
        if type(item) is not int or item < 1:  # bool is no count
            raise UserError(f"{place} takes client counts >= 1, got {item!r}")
        return item

    return [] if value is None else _listed(value, "clients", where, warn, level)


def _seconds(value: Any, key: str, where: str, *, positive: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise UserError(
            f"{where}: '{key}' must be a finite number of seconds {bound}, got {value!r}"
        )
    return float(value)


def parse_datasets(value: Any, where: str, warn: Warn | None = None) -> list[str]:
    """Dataset entries: names (checked as names) or paths to files; duplicates dropped."""
    return _listed(value, "datasets", where, warn, _dataset_entry)


DATASET_KEYS = {"dataset", "workload", "workloads"}


def parse_dataset_entries(
    value: Any, where: str, warn: Warn | None = None
) -> tuple[list[str], dict[str, list[str]]]:
    """``datasets:`` entries: a name or path (its static sweep), or a mapping naming a dataset
    and its filter workloads (``{dataset: NAME, workload: W}``, ``workloads: [W1, W2]`` or
    ``workload: all``). Returns the dataset names and each one's workloads."""
    names: list[str] = []
    workloads: dict[str, list[str]] = {}

    def entry(item: Any, place: str) -> tuple[str, tuple[str, ...]]:
        if not isinstance(item, dict):
            return _dataset_entry(item, place), ("",)
        refuse_unknown_keys(item, DATASET_KEYS, place)
        name = _dataset_entry(item.get("dataset"), f"{place}: 'dataset'")
        chosen = item.get("workloads", item.get("workload"))
        listed = _listed(chosen, "workloads", f"{place}: dataset {name!r}", warn, _workload_name)
        return name, tuple(listed)

    for name, chosen in _listed(value, "datasets", where, warn, entry):
        if name not in names:
            names.append(name)
        for workload in chosen:
            if workload not in workloads.setdefault(name, []):
                workloads[name].append(workload)
    return names, workloads


def _workload_name(value: Any, where: str) -> str:
    if value == "":
        return ""
    return check_name(value, f"{where}: workload")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _listed(value: Any, key: str, where: str, warn: Warn | None, check) -> list[Any]:
    """A spec list: at least one entry, each checked, duplicates dropped with a warning."""
    return checked_list(value, check, f"{where}: '{key}'", warn)


def _dataset_entry(value: Any, where: str) -> str:
    """A dataset name (checked as a name) or a path to a file (.hdf5 / .h5, or holding '/')."""
    if not isinstance(value, str) or not value:
        raise UserError(f"{where} takes dataset names or paths, got {value!r}")
    if os.sep in value or value.endswith((".hdf5", ".h5")):
        return value
    return check_name(value, f"{where}: dataset name")


def _choice(options: tuple[str, ...], what: str):
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in options:
            raise UserError(f"{where}: unknown {what} {value!r}; choose from {', '.join(options)}")
        return value

    return check


def _integer(value: Any, key: str, where: str, *, minimum: int) -> int:
    if type(value) is not int or value < minimum:  # bool is no count
        raise UserError(f"{where}: '{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def _timeout(value: Any, where: str) -> float:
    return _seconds(value, "timeout", where, positive=True)


def check_timeout(value: float, where: str = "--timeout") -> float:
    """The one timeout rule, for the command line too."""
    return _timeout(value, where)


def _seeds(value: Any, where: str, warn: Warn | None = None) -> list[int]:
    def seed(item: Any, place: str) -> int:
        if type(item) is not int or item < 0:  # bool is no seed
            raise UserError(f"{place} takes non-negative integers, got {item!r}")
        return item

    return _listed(value, "seeds", where, warn, seed)


def _thread_counts(value: Any, key: str, where: str, warn: Warn | None) -> list[int | None]:
    def count(item: Any, place: str) -> int | None:
        if item is not None and (type(item) is not int or item < 1):
            raise UserError(f"{place} takes positive integers or null, got {item!r}")
        return item

    return _listed(value, key, where, warn, count)


def _adapter_entry(entry: Any, where: str, warn: Warn | None = None) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"name": entry, "build": {}, "query": {}, "strategy": "native"}
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise UserError(f"{where}: each adapter is a name or a mapping with a 'name'")
    place = f"{where}: adapter {entry['name']!r}"
    refuse_unknown_keys(entry, ADAPTER_KEYS, place)
    chosen = {"name": entry["name"]}
    for section in ("build", "query"):
        grid = entry.get(section) or {}
        if not isinstance(grid, dict):
            raise UserError(f"{place}: '{section}' must map parameter names to values")
        chosen[section] = grid
    if "seeds" in entry:
        chosen["seeds"] = _seeds(entry["seeds"], place, warn)
    strategy = entry.get("strategy", "native")
    if strategy not in STRATEGIES:
        raise UserError(f"{place}: strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    chosen["strategy"] = strategy
    if "overfetch" in entry:
        if strategy != "postfilter":
            raise UserError(f"{place}: 'overfetch' applies to strategy: postfilter")
        chosen["overfetch"] = checked_grid(
            entry["overfetch"], OVERFETCH_RULE, f"{place}: 'overfetch'", warn
        )
    return chosen


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of a parameter grid, in the grid's order; {} for an empty grid."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _override(spec, overrides: dict, section: str, warn: Warn | None) -> dict:
    """The spec's grid with the experiment's values in place of its defaults, every value
    checked against the parameter's rule."""
    spec_grid = spec.build_grid if section == "build" else spec.query_grid
    optional = {name for name, rule in spec.param_rules.items() if rule.optional}
    unknown = sorted(set(overrides) - set(spec_grid) - (optional if section == "build" else set()))
    if unknown:
        raise UserError(
            f"adapter {spec.name!r} has no {section} parameter "
            f"{', '.join(map(repr, map(str, unknown)))}; its {section} parameters: "
            f"{', '.join(spec_grid) or 'none'}"
        )
    grid = {}
    for key, values in {**spec_grid, **overrides}.items():
        where = f"adapter {spec.name!r}: {section} parameter {key!r}"
        grid[key] = checked_grid(values, spec.rule(key, section), where, warn)
    return grid


def expand(
    experiment: Experiment,
    data_dir: str | os.PathLike,
    *,
    progress: bool | None = None,
    warn: Warn | None = None,
    check_available: bool = True,
) -> list[Job]:
    """Resolve datasets and adapters: one Job per (dataset, adapter, build point, seed).

    Every adapter and parameter value is checked before any dataset is made or read; a job
    listed twice (the same run id) runs once. ``check_available``: refuse adapters that cannot
    run on this machine (off where jobs run elsewhere: in containers holding the library)."""
    from annbench.adapters.availability import availabilities
    from annbench.adapters.registry import discover
    from annbench.datasets.catalog import existing_dataset, resolve_dataset

    registry = discover()
    chosen = []
    for entry in experiment.adapters:
        if entry["name"] not in registry:
            known = ", ".join(sorted(registry))
            raise UserError(f"unknown adapter {entry['name']!r}; known adapters: {known}")
    for entry in experiment.adapters:
        spec = registry[entry["name"]]
        if experiment.clients and not spec.clients:
            raise UserError(
                f"adapter {spec.name} declares no client mode, so it cannot serve concurrent "
                f"clients; add 'clients: process' or 'clients: thread' to {spec.folder}/spec.yml "
                "or leave it out of this experiment"
            )
        build = _override(spec, entry["build"], "build", warn)
        query = _override(spec, entry["query"], "query", warn)
        chosen.append((spec, build, query, entry.get("seeds", experiment.seeds), entry))

    # every dataset present is checked before any is made or written to (its LID stored), so
    # that a refusal leaves the data folder as it was
    present = {name: existing_dataset(name, data_dir) for name in experiment.datasets}
    names: dict[str, str] = {}  # dataset name -> content hash, for one name one content
    checked = {}
    for name, path in present.items():
        if path is not None:
            info = _check_dataset(path, name, experiment, chosen, data_dir, names)
            checked[name] = info, _workloads_of(experiment, name, info, path)
    if check_available:  # after the parameter and metric checks, before any dataset is made
        named = {spec.name: spec for spec, *_ in chosen}
        for name, reason in availabilities(named.values()).items():
            if reason:
                raise UserError(
                    f"adapter {name} cannot run here: {reason}; see `annbench adapters list`, "
                    "or leave it out of the experiment"
                )
    jobs: dict[str, Job] = {}
    for name in experiment.datasets:
        path = present[name] or resolve_dataset(name, data_dir, progress=progress)
        if name in checked:
            info, workloads = checked[name]
        else:
            info = _check_dataset(path, name, experiment, chosen, data_dir, names)
            workloads = _workloads_of(experiment, name, info, path)
        if NEEDS_LID & set(experiment.orders) and not info["has_lid"]:
            from annbench.datasets.annotate import ensure_intrinsic
            from annbench.datasets.store import dataset_info

            ensure_intrinsic(path, progress=progress)
            info = dataset_info(path)
        if experiment.runbooks and experiment.workloads.get(name, [""]) == [""]:
            workloads = []  # a streaming experiment: its runbooks alone, no static sweep
        if experiment.clients and workloads != [""] and not experiment.runbooks:
            raise UserError(
                f"{name}: clients measure the plain query sweep, not filter workloads; "
                "name the dataset without a workload in a clients experiment"
            )
        clients = (
            {
                "clients": experiment.clients,
                "duration_s": experiment.duration,
                "client_warmup_s": experiment.client_warmup,
            }
            if experiment.clients
            else {}
        )
        for workload in workloads:
            digest = names[info["name"]] if not workload else digest_of(path, workload)
            for spec, build, query, seeds, entry in chosen:
                kind = info["workloads"][workload]["filter"] if workload else ""
                strategy = entry.get("strategy", "native") if workload else "native"
                grid = query
                if strategy == "postfilter":
                    grid = {**query, "overfetch": entry.get("overfetch", DEFAULT_OVERFETCH)}
                skipped = ""
                if kind and strategy == "native" and kind not in spec.filters:
                    skipped = (
                        f"{spec.name} cannot filter by {kind} (its spec declares "
                        f"{', '.join(spec.filters) or 'no filters'}); use strategy: postfilter"
                    )
                for build_point, threads, order, seed in itertools.product(
                    grid_points(build), experiment.build_threads, experiment.orders, seeds
                ):
                    job = _job(
                        experiment,
                        info,
                        path,
                        digest,
                        spec,
                        build_point,
                        grid,
                        threads,
                        seed,
                        insertion_order=order,
                        workload=workload,
                        strategy="" if strategy == "native" else strategy,
                        skipped=skipped,
                        **({**clients, "client_mode": spec.clients} if clients else {}),
                    )
                    jobs.setdefault(job.run_id, job)
        for job in _runbook_jobs(experiment, chosen, info, path):
            jobs.setdefault(job.run_id, job)
    return list(jobs.values())


def _job(
    experiment: Experiment,
    info: dict,
    path,
    digest: str,
    spec,
    build_point: dict,
    query_grid: dict,
    threads: int | None,
    seed: int,
    **workload_fields: Any,
) -> Job:
    """One Job of ``spec`` at one build point on one dataset; ``workload_fields`` are the
    workload's own (order, workload, strategy, skipped, runbook)."""
    return Job(
        dataset=info["name"],
        dataset_path=str(Path(path).resolve()),
        dataset_hash=digest,
        metric=info["metric"],
        adapter=spec.name,
        adapter_module=str(spec.module_path),
        adapter_class=spec.class_name,
        adapter_version=spec.library_version(),
        build_params=build_point,
        query_params=grid_points(query_grid),
        k=experiment.k,
        seed=seed,
        repeats=experiment.repeats,
        warmup=experiment.warmup,
        timeout_s=experiment.timeout,
        build_threads=threads,
        search_threads=experiment.search_threads,
        modes=experiment.modes,
        exact=spec.exact,
        python=spec.python,
        **workload_fields,
    )


def _runbook_jobs(experiment: Experiment, chosen: list, info: dict, path) -> list[Job]:
    """One job per (runbook, adapter, build point, build threads, seed) on this dataset; an
    adapter that cannot insert or delete as the runbook needs is recorded as skipped."""
    from annbench.datasets.store import load_dataset
    from annbench.run.runbook_plan import prepare, runbook_data

    if not experiment.runbooks:
        return []
    dataset = load_dataset(path, workloads="")
    jobs = []
    for entry in experiment.runbooks:
        data = runbook_data(entry, info["n_base"], dataset.labels)
        workload, digest, needs = prepare(data, dataset, str(path), info["name"], experiment.k)
        for spec, build, query, seeds, _ in chosen:
            missing = [n for n in needs if n not in spec.supports and n != "clients"]
            skipped = (
                f"{spec.name} cannot {' or '.join(missing)} (its spec declares supports: "
                f"[{', '.join(spec.supports)}]); runbook {data['name']} needs it"
                if missing
                else ""
            )
            if "clients" in needs and not spec.clients and not skipped:
                skipped = (
                    f"{spec.name} declares no client mode; runbook {data['name']} searches "
                    "with concurrent clients"
                )
            for build_point, threads, seed in itertools.product(
                grid_points(build), experiment.build_threads, seeds
            ):
                jobs.append(
                    _job(
                        experiment,
                        info,
                        path,
                        digest,
                        spec,
                        build_point,
                        query,
                        threads,
                        seed,
                        workload=workload,
                        skipped=skipped,
                        runbook=data,
                        client_mode=spec.clients,
                    )
                )
    return jobs


def digest_of(path: str | os.PathLike, workload: str = "") -> str:
    from annbench.datasets.store import dataset_hash

    return dataset_hash(path, workload)


def _workloads_of(experiment: Experiment, name: str, info: dict, path) -> list[str]:
    """The workloads to run on dataset ``name`` ("" = static), each known to the file."""
    chosen = experiment.workloads.get(name, [""])
    available = sorted(info["workloads"])
    result: list[str] = []
    for workload in chosen:
        names = available if workload == "all" else [workload]
        for each in names:
            if each and each not in info["workloads"]:
                raise UserError(
                    f"dataset {name!r} has no workload {each!r} (its workloads: "
                    f"{', '.join(available) or 'none; add some with `annbench datasets filters`'})"
                )
            if each:
                from annbench.datasets.filters import ATTRIBUTE_OF

                attribute = ATTRIBUTE_OF[info["workloads"][each]["filter"]]
                if attribute not in info["attributes"]:
                    raise UserError(
                        f"workload {each!r} of dataset {name!r} filters on the attribute "
                        f"{attribute!r}, which {path} lacks; make its filters again with "
                        "`annbench datasets filters`"
                    )
            if each not in result:
                result.append(each)
    return result


def _check_unique(
    name: str, path: Path, digest: str, seen: dict[str, str], data_dir: str | os.PathLike
) -> None:
    """Refuse a dataset name that is not a valid name or that other content holds: results are
    filed under the name, so one name must mean one dataset."""
    from annbench.datasets.catalog import dataset_path

    check_name(
        name, f"dataset {path}: its name (the file name without suffix)", "rename the file to"
    )
    if seen.setdefault(name, digest) != digest:
        raise UserError(
            f"two datasets of the experiment are named {name!r} but differ in content; "
            "rename one of the files"
        )
    namesake = dataset_path(name, data_dir)
    other = namesake.exists() and namesake.resolve() != Path(path).resolve()
    if other and digest_of(namesake) != digest:
        raise UserError(
            f"dataset {path} is named {name!r}, like {namesake}, which holds other "
            "content; rename the file so their results do not mix"
        )


def _check_dataset(
    path: Path,
    name: str,
    experiment: Experiment,
    chosen: list,
    data_dir: str | os.PathLike,
    names: dict[str, str],
) -> dict[str, Any]:
    """The dataset's info, once the file, k, the orders' needs, the adapters' metrics and the
    name are known to fit the experiment (``names``: name -> content hash seen so far)."""
    from annbench.datasets.catalog import in_data_dir
    from annbench.datasets.store import dataset_info

    info = dataset_info(path)
    if experiment.k > info["ground_truth_k"]:
        raise UserError(
            f"k={experiment.k} is larger than the {info['ground_truth_k']} neighbours stored "
            f"in {path}; lower k or rebuild the dataset's ground truth"
        )
    label_orders = sorted(NEEDS_LABELS & set(experiment.orders))
    if label_orders and not info["has_labels"]:
        raise UserError(
            f"insertion order {', '.join(label_orders)} needs labels, and dataset {name!r} has "
            "none; drop those orders or use a dataset with labels (e.g. blobs)"
        )
    needs_lid = NEEDS_LID & set(experiment.orders) and not info["has_lid"]
    if needs_lid and not in_data_dir(path, data_dir):
        raise UserError(
            f"insertion orders by LID need the LID stored in {path}, which lies outside "
            f"the data folder {data_dir}; annbench writes only there: copy the file in"
        )
    for spec, *_ in chosen:
        if info["metric"] not in spec.metrics:
            raise UserError(
                f"adapter {spec.name!r} does not support metric {info['metric']!r} of "
                f"dataset {name!r}; remove one of them from the experiment"
            )
    _check_unique(info["name"], path, digest_of(path), names, data_dir)
    return info


SMOKE_DATASET = "smoke-2k-16"
# builds of a non-repeatable adapter in the smoke suite. Over single builds on smoke-2k-16 the
# recall's standard deviation reaches 0.0105 (lancedb, refine_factor=10; chroma 0.003-0.006 at
# ef_search=10): with 16 builds a side, chance alone takes the mean 0.01 lower about once in 300
UNREPEATABLE_BUILDS = 16


def available(specs) -> list:
    """The adapters among ``specs`` that can run here, by name (the others are left out:
    `annbench adapters list` says why)."""
    from annbench.adapters.availability import availabilities

    specs = sorted(specs, key=lambda spec: spec.name)
    reasons = availabilities(specs)
    return [spec for spec in specs if not reasons[spec.name]]


def all_experiment(
    data_dir: str | os.PathLike, datasets: list[str] | None = None, registry: dict | None = None
) -> Experiment:
    """Every adapter that can run here, at its spec's default grids, on ``datasets`` (default:
    the built-in experiment's) with that experiment's k, repeats and timeout: the whole field
    side by side. Adapters that lack a dataset's metric are left out."""
    from annbench.adapters.registry import discover

    default = read_experiment(default_experiment_path())
    datasets = datasets or default.datasets
    metrics = {_dataset_metric(name, data_dir) for name in datasets}
    registry = discover() if registry is None else registry
    adapters = [
        {"name": spec.name, "build": {}, "query": {}}
        for spec in available(registry.values())
        if spec.name != "noop" and metrics <= set(spec.metrics)
    ]
    return dataclasses.replace(default, datasets=datasets, adapters=adapters)


def _dataset_metric(name: str, data_dir: str | os.PathLike) -> str:
    """A dataset's metric, from its file when present, else from the catalog (no work)."""
    from annbench.datasets.catalog import catalog_entry, existing_dataset
    from annbench.datasets.store import dataset_info

    path = existing_dataset(name, data_dir)
    if path is not None:
        return dataset_info(path)["metric"]
    return catalog_entry(name).get("metric", "euclidean")


def smoke_experiment(registry: dict | None = None) -> Experiment:
    """Every registered adapter on a tiny dataset: the first value of each build parameter,
    the spec's whole query grid, single-threaded seeded builds (so recall is repeatable) and
    single-threaded searches (far steadier timings on a shared machine). An adapter whose builds
    are not repeatable is built ``UNREPEATABLE_BUILDS`` times, so the gate compares means."""
    from annbench.adapters.registry import discover

    registry = discover() if registry is None else registry
    adapters = [
        {
            "name": spec.name,
            "build": {k: v[:1] for k, v in spec.build_grid.items()},
            "query": {},
            **({} if spec.repeatable else {"seeds": list(range(UNREPEATABLE_BUILDS))}),
        }
        for spec in available(registry.values())
        if "euclidean" in spec.metrics
    ]
    return Experiment(
        datasets=[SMOKE_DATASET],
        adapters=adapters,
        k=10,
        repeats=3,
        build_threads=[1],
        search_threads=[1],
        seeds=[0],
        timeout=300,
    )
