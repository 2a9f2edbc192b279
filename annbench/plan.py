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

import hashlib
import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from annbench.errors import UserError, refuse_unknown_keys
from annbench.orders import NEEDS_LABELS, NEEDS_LID, check_order

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
}
MODES = ("batch", "single")
ADAPTER_KEYS = {"name", "build", "query", "seeds"}
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


@dataclass(frozen=True)
class Job:
    """Everything one worker needs to build one index and sweep its query parameters.

    Plain data: it travels as JSON to a subprocess, a container or a cluster worker.
    """

    dataset: str
    dataset_path: str
    dataset_hash: str
    metric: str
    adapter: str
    adapter_module: str
    adapter_class: str
    adapter_version: str
    build_params: dict[str, Any]
    query_params: list[dict[str, Any]]
    k: int
    seed: int = 0
    insertion_order: str = "original"
    repeats: int = 3
    warmup: int = 1
    timeout_s: float = 900.0
    build_threads: int | None = None
    search_threads: list[int | None] = field(default_factory=lambda: [None])
    modes: list[str] = field(default_factory=lambda: ["batch"])
    exact: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """Identity of the measurement: same inputs, same id, so a stored run is not redone."""
        identity = {
            "dataset": self.dataset_hash,
            "adapter": self.adapter,
            "version": self.adapter_version,
            "build": self.build_params,
            "query": self.query_params,
            "k": self.k,
            "seed": self.seed,
            "order": self.insertion_order,
            "build_threads": self.build_threads,
            "search_threads": self.search_threads,
            "modes": self.modes,
            "repeats": [self.warmup, self.repeats],
        }
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """Human name of the run: adapter(build params)."""
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.build_params.items()))
        name = f"{self.adapter}({params})" if params else self.adapter
        return name if self.insertion_order == "original" else f"{name} [{self.insertion_order}]"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        return cls(**json.loads(text))


@dataclass
class Experiment:
    datasets: list[str]
    adapters: list[dict[str, Any]]
    k: int = 10
    repeats: int = 3
    warmup: int = 1
    timeout: float = 900
    seeds: list[int] = field(default_factory=lambda: [0])
    orders: list[str] = field(default_factory=lambda: ["original"])
    build_threads: list[int | None] = field(default_factory=lambda: [None])
    search_threads: list[int | None] = field(default_factory=lambda: [None])
    modes: list[str] = field(default_factory=lambda: ["batch"])


def default_experiment_path() -> Path:
    return Path(__file__).with_name("default_experiment.yml")


PROFILES = ("vendor-defaults",)


def profile_path(name: str) -> Path:
    if name not in PROFILES:
        raise UserError(f"unknown profile {name!r}; profiles: {', '.join(PROFILES)}")
    return Path(__file__).parent / "profiles" / f"{name}.yml"


def read_experiment(path: str | os.PathLike) -> Experiment:
    """Parse and check an experiment spec file."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise UserError(f"experiment spec {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_experiment(raw, where=str(path))


def parse_experiment(raw: Any, where: str = "experiment") -> Experiment:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a mapping with keys {sorted(EXPERIMENT_KEYS)}")
    refuse_unknown_keys(raw, EXPERIMENT_KEYS, where)
    for key in ("datasets", "adapters"):
        if not raw.get(key):
            raise UserError(f"{where}: '{key}' must list at least one entry")
    merged = {**DEFAULTS, **raw}
    datasets = merged["datasets"]
    datasets = [datasets] if isinstance(datasets, str) else list(datasets)
    seeds = _seeds(merged["seeds"], where)
    orders = [str(order) for order in _as_list(merged["orders"])]
    for order in orders:
        check_order(order)
    modes = [str(mode) for mode in _as_list(merged["modes"])]
    for mode in modes:
        if mode not in MODES:
            raise UserError(f"{where}: unknown mode {mode!r}; modes are {', '.join(MODES)}")
    build_threads = _thread_counts(merged["build_threads"], "build_threads", where)
    search_threads = _thread_counts(merged["search_threads"], "search_threads", where)
    for key in ("k", "repeats"):
        if not isinstance(merged[key], int) or merged[key] < 1:
            raise UserError(f"{where}: '{key}' must be a positive integer, got {merged[key]!r}")
    adapters = [_adapter_entry(entry, where) for entry in merged["adapters"]]
    return Experiment(
        datasets=[str(d) for d in datasets],
        adapters=adapters,
        k=merged["k"],
        repeats=merged["repeats"],
        warmup=int(merged["warmup"]),
        timeout=float(merged["timeout"]),
        seeds=seeds,
        orders=orders,
        build_threads=build_threads,
        search_threads=search_threads,
        modes=modes,
    )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _seeds(value: Any, where: str) -> list[int]:
    seeds = _as_list(value)
    if not seeds or not all(type(seed) is int and seed >= 0 for seed in seeds):  # bool is no seed
        raise UserError(f"{where}: 'seeds' takes non-negative integers, got {value!r}")
    return seeds


def _thread_counts(value: Any, key: str, where: str) -> list[int | None]:
    counts = _as_list(value)
    for count in counts:
        if count is not None and (not isinstance(count, int) or count < 1):
            raise UserError(f"{where}: '{key}' takes positive integers or null, got {count!r}")
    return counts


def _adapter_entry(entry: Any, where: str) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"name": entry, "build": {}, "query": {}}
    if not isinstance(entry, dict) or "name" not in entry:
        raise UserError(f"{where}: each adapter is a name or a mapping with 'name'")
    place = f"{where}: adapter {entry['name']!r}"
    refuse_unknown_keys(entry, ADAPTER_KEYS, place)
    chosen = {
        "name": entry["name"],
        "build": entry.get("build") or {},
        "query": entry.get("query") or {},
    }
    if "seeds" in entry:
        chosen["seeds"] = _seeds(entry["seeds"], place)
    return chosen


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of a parameter grid, in the grid's order; {} for an empty grid."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _override(spec_grid: dict, overrides: dict, adapter: str, section: str) -> dict:
    unknown = sorted(set(overrides) - set(spec_grid))
    if unknown:
        raise UserError(
            f"adapter {adapter!r} has no {section} parameter {', '.join(map(repr, unknown))}; "
            f"its {section} parameters: {', '.join(spec_grid) or 'none'}"
        )
    return {k: (v if isinstance(v, list) else [v]) for k, v in {**spec_grid, **overrides}.items()}


def expand(
    experiment: Experiment, data_dir: str | os.PathLike, *, progress: bool | None = None
) -> list[Job]:
    """Resolve datasets and adapters: one Job per (dataset, adapter, build point, seed)."""
    from annbench.adapters.registry import discover
    from annbench.datasets.catalog import resolve_dataset
    from annbench.datasets.store import dataset_hash

    registry = discover()
    chosen = []
    for entry in experiment.adapters:
        if entry["name"] not in registry:
            known = ", ".join(sorted(registry))
            raise UserError(f"unknown adapter {entry['name']!r}; known adapters: {known}")
        spec = registry[entry["name"]]
        build = _override(spec.build_grid, entry["build"], spec.name, "build")
        query = _override(spec.query_grid, entry["query"], spec.name, "query")
        chosen.append((spec, build, query, entry.get("seeds", experiment.seeds)))

    jobs = []
    for name in experiment.datasets:
        path = resolve_dataset(name, data_dir, progress=progress)
        info = _checked_info(path, name, experiment, progress)
        digest = dataset_hash(path)
        for spec, build, query, seeds in chosen:
            if info["metric"] not in spec.metrics:
                raise UserError(
                    f"adapter {spec.name!r} does not support metric {info['metric']!r} of "
                    f"dataset {name!r}; remove one of them from the experiment"
                )
            for build_point, threads, order, seed in itertools.product(
                grid_points(build), experiment.build_threads, experiment.orders, seeds
            ):
                jobs.append(
                    Job(
                        dataset=info["name"],
                        dataset_path=str(Path(path).resolve()),
                        dataset_hash=digest,
                        metric=info["metric"],
                        adapter=spec.name,
                        adapter_module=str(spec.module_path),
                        adapter_class=spec.class_name,
                        adapter_version=spec.library_version(),
                        build_params=build_point,
                        query_params=grid_points(query),
                        k=experiment.k,
                        seed=seed,
                        insertion_order=order,
                        repeats=experiment.repeats,
                        warmup=experiment.warmup,
                        timeout_s=experiment.timeout,
                        build_threads=threads,
                        search_threads=experiment.search_threads,
                        modes=experiment.modes,
                        exact=spec.exact,
                    )
                )
    return jobs


def _checked_info(path: Path, name: str, experiment: Experiment, progress) -> dict[str, Any]:
    """The dataset's info after checking k and the orders' needs (computing LID if needed)."""
    from annbench.datasets.annotate import ensure_intrinsic
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
    if NEEDS_LID & set(experiment.orders) and not info["has_lid"]:
        ensure_intrinsic(path, progress=progress)
        info = dataset_info(path)
    return info


SMOKE_DATASET = "smoke-2k-16"
# builds of a non-repeatable adapter in the smoke suite. Over single builds on smoke-2k-16 the
# recall's standard deviation reaches 0.0105 (lancedb, refine_factor=10; chroma 0.003-0.006 at
# ef_search=10): with 16 builds a side, chance alone takes the mean 0.01 lower about once in 300
UNREPEATABLE_BUILDS = 16


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
        for spec in sorted(registry.values(), key=lambda spec: spec.name)
        if "euclidean" in spec.metrics and spec.library_version() != "not installed"
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
