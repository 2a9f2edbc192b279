"""The Job: plain data naming everything one measurement needs, and its identity.

A Job travels as JSON to a subprocess, a container or a cluster worker, and is stored in its
result file; its ``run_id`` (a hash of what determines the measurement) names that file, so a
job already stored is not run again and a result whose dataset changed is not taken for new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


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
    # the dataset's workload ("" = the static query sweep; else a filter workload's name) and
    # how the adapter meets it ("" = natively; "postfilter": over-fetch, then drop)
    workload: str = ""
    strategy: str = ""
    skipped: str = ""  # why this adapter cannot do this workload (the job is recorded, not run)
    # a streaming runbook (annbench.run.runbooks' plain data); its content is in the
    # dataset hash, so it needs no place of its own in the identity
    runbook: dict[str, Any] = field(default_factory=dict)
    # concurrent clients: the levels (client counts), each measured for ``duration_s`` after
    # ``client_warmup_s``, through the adapter's declared client mode (process | thread)
    clients: list[int] = field(default_factory=list)
    duration_s: float = 10.0
    client_warmup_s: float = 1.0
    client_mode: str = ""
    # the interpreter of the adapter's own environment ("" = annbench's); where the worker
    # runs, not what it measures, so it stays out of the run's identity
    python: str = ""

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
        # only where set, so the identity of every static run stays what it was
        identity.update(
            {key: getattr(self, key) for key in ("workload", "strategy") if getattr(self, key)}
        )
        if self.clients:
            identity["clients"] = {
                "levels": self.clients,
                "duration_s": self.duration_s,
                "warmup_s": self.client_warmup_s,
                "mode": self.client_mode,
            }
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """Human name of the run: adapter(build params)."""
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.build_params.items()))
        adapter = f"{self.strategy}({self.adapter})" if self.strategy else self.adapter
        name = f"{adapter}({params})" if params else adapter
        return name if self.insertion_order == "original" else f"{name} [{self.insertion_order}]"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        return cls(**json.loads(text))


def runbook_digest(runbook: dict[str, Any]) -> str:
    """Content hash of a runbook (its name aside): it keys the runbook's cached ground truth."""
    content = {key: value for key, value in runbook.items() if key != "name"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def runbook_dataset_hash(content_hash: str, runbook: dict[str, Any]) -> str:
    """The dataset hash of a runbook job: the dataset's content and the runbook's, so that a
    result is stale once either changes."""
    return hashlib.sha256(f"{content_hash}:runbook:{runbook_digest(runbook)}".encode()).hexdigest()


def runbook_query_sets(runbook: dict[str, Any]) -> list[str]:
    """The query sets a runbook's searches name (besides the dataset's own queries)."""
    names = set()
    for step in runbook.get("steps", []):
        options = step.get("search") if isinstance(step, dict) else None
        if isinstance(options, dict) and isinstance(options.get("queries"), str):
            names.add(options["queries"])
    return sorted(name for name in names if name)
