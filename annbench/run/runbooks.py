"""Runbooks: a streaming workload as a sequence of insert, delete, search and replace steps.

The format (YAML; every point is a row of the dataset's base, 0..n-1):

    name: sliding-window           # optional; default: the file's stem
    seed: 0                        # for seeded orders (optional)
    slices:                        # optional named selections of the base
      early: {range: [0, 5000]}
      cats: {label: 3}             # or {labels: [3, 4]}
    steps:
      - insert: {range: [0, 5000], order: random}   # or {slice: early}, {label: 3}, {all: true}
      - insert: {random: [0, 1000]}   # positions 0..1000 of a seeded shuffle of the base
      - search: {}                                  # the dataset's queries
      - search: {queries: blobs-20k-64-hard-lid100-200}   # a query set over the same base
      - search: {clients: 4, duration: 5}          # concurrent clients (docs/CONCURRENCY.md)
      - search: {clients: 4, ingest: {range: [9000, 10000], rate: 500}}  # while inserting
      - delete: {oldest: 0.25}                      # or {range: ...}, {slice: ...}, {label: 3}
      - replace: {delete: {oldest: 0.1}, insert: {range: [5000, 6000]}}

``order`` is any insertion order of annbench (``random``, ``label-grouped``, ...) applied
to the step's points, or ``clustered`` (labels arrive one after another: label-grouped).
``oldest: F`` deletes the fraction F of the active points that were inserted earliest.
A point may be inserted once and deleted once, only while active; the steps are checked
against that before anything runs, and every problem is one line naming the step.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annbench.errors import UserError
from annbench.errors.names import name_problem
from annbench.run.orders import ORDERS, insertion_order

KINDS = ("insert", "delete", "search", "replace")
SELECTORS = ("range", "random", "slice", "label", "labels", "all", "oldest")
CLUSTERED = "clustered"


@dataclass(frozen=True)
class Step:
    """One resolved operation: ``kind`` insert / delete / search, the base rows it touches
    (in the order they are handed over), the query set of a search ("" = the dataset's),
    and ``number``, the runbook step it comes from (a replace gives two)."""

    number: int
    kind: str
    ids: np.ndarray
    queries: str = ""
    # a search by concurrent clients: {"clients": N, "duration": S, "warmup": S} and, when it
    # ingests, "rate" (points per second); its ingested points are the insert step after it,
    # marked ``during`` (inserted while the clients search, active for the steps after)
    clients: dict[str, Any] | None = None
    during: bool = False


def read_runbook(path: str | os.PathLike) -> dict[str, Any]:
    """The runbook file as plain data, its YAML and shape checked (one line on any problem)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
    except FileNotFoundError:
        raise UserError(f"runbook {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"runbook {path} cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"runbook {path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise UserError(f"runbook {path} must be a mapping with a 'steps' list")
    data.setdefault("name", path.stem)
    return check_shape(data, str(path))


def check_shape(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Keys and types of a runbook (what can be checked without the dataset)."""
    unknown = set(data) - {"name", "seed", "slices", "steps"}
    if unknown:
        raise UserError(f"runbook {where}: unknown key(s) {sorted(unknown)}")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise UserError(f"runbook {where}: 'steps' must be a non-empty list")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"runbook {where}: 'seed' must be a whole number >= 0, got {seed!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise UserError(f"runbook {where}: 'name' must be non-empty text, got {name!r}")
    slices = data.get("slices", {})
    if not isinstance(slices, dict) or not all(
        isinstance(key, str) and isinstance(value, dict) for key, value in slices.items()
    ):
        raise UserError(f"runbook {where}: 'slices' must map names to selections (mappings)")
    try:
        json.dumps(data)
    except (TypeError, ValueError):
        raise UserError(
            f"runbook {where}: holds a value that is not plain text, number, list or mapping "
            "(a date?); quote it"
        ) from None
    for number, step in enumerate(steps, 1):
        if not isinstance(step, dict) or len(step) != 1 or next(iter(step)) not in KINDS:
            raise UserError(
                f"runbook {where} step {number}: must be one of {', '.join(KINDS)} "
                f"with its options, got {step!r}"
            )
        options = next(iter(step.values()))
        if options is not None and not isinstance(options, dict):
            raise UserError(f"runbook {where} step {number}: options must be a mapping")
    return data


class _Resolver:
    """Turns the runbook's steps into base rows, tracking which points are active."""

    def __init__(self, data, n: int, labels, lid, where: str) -> None:
        self.data, self.n, self.labels, self.lid, self.where = data, n, labels, lid, where
        self.seed = int(data.get("seed", 0))
        self.inserted_at = np.full(n, -1, dtype=np.int64)  # insertion sequence number
        self.deleted = np.zeros(n, dtype=bool)
        self.sequence = 0

    def fail(self, number: int, kind: str, problem: str) -> UserError:
        return UserError(f"runbook {self.where} step {number} ({kind}): {problem}")

    def select(self, options: dict, number: int, kind: str, seen: tuple = ()) -> np.ndarray:
        if not isinstance(options, dict):
            raise self.fail(number, kind, f"a selection must be a mapping, got {options!r}")
        chosen = [key for key in SELECTORS if key in options]
        if len(chosen) != 1:
            raise self.fail(number, kind, f"name exactly one of {', '.join(SELECTORS)}")
        key, value = chosen[0], options[chosen[0]]
        if key == "slice":
            slices = self.data.get("slices", {})
            if not isinstance(value, str) or value not in slices:
                known = ", ".join(sorted(slices)) or "none defined"
                raise self.fail(number, kind, f"unknown slice {value!r} (slices: {known})")
            if value in seen:
                raise self.fail(number, kind, f"slice {value!r} refers to itself")
            return self.select(slices[value], number, kind, (*seen, value))
        if key == "all":
            if value is not True:
                raise self.fail(number, kind, f"all must be true, got {value!r}")
            return np.arange(self.n, dtype=np.int64)
        if key in ("range", "random"):
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                or not 0 <= value[0] < value[1] <= self.n
            ):
                raise self.fail(
                    number, kind, f"range {value!r} must be [start, stop] within 0..{self.n}"
                )
            if key == "random":
                return self.shuffled()[value[0] : value[1]]
            return np.arange(value[0], value[1], dtype=np.int64)
        if key in ("label", "labels"):
            if self.labels is None:
                raise self.fail(number, kind, "selects by label, but the dataset has no labels")
            wanted = value if key == "labels" else [value]
            if not isinstance(wanted, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in wanted
            ):
                raise self.fail(number, kind, f"{key} must be whole numbers, got {value!r}")
            rows = np.flatnonzero(np.isin(self.labels, wanted))
            if not len(rows):
                raise self.fail(number, kind, f"no base vector has label {value!r}")
            return rows.astype(np.int64)
        if kind != "delete":
            raise self.fail(number, kind, "'oldest' selects only for a delete")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
            raise self.fail(number, kind, f"oldest {value!r} must be a fraction in (0, 1]")
        active = np.flatnonzero(self.active())
        count = int(round(value * len(active)))
        return active[np.argsort(self.inserted_at[active], kind="stable")][:count]

    def shuffled(self) -> np.ndarray:
        return np.random.default_rng(self.seed).permutation(self.n).astype(np.int64)

    def active(self) -> np.ndarray:
        return (self.inserted_at >= 0) & ~self.deleted

    def ordered(self, rows: np.ndarray, options: dict, number: int) -> np.ndarray:
        name = options.get("order", "original")
        name = "label-grouped" if name == CLUSTERED else name
        if name not in ORDERS:
            raise self.fail(
                number, "insert", f"unknown order {name!r}; choose {', '.join(ORDERS)}, clustered"
            )
        try:
            order = insertion_order(name, self.n, self.seed, labels=self.labels, lid=self.lid)
        except UserError as exc:
            raise self.fail(number, "insert", str(exc)) from None
        position = np.empty(self.n, dtype=np.int64)
        position[order] = np.arange(self.n)
        return rows[np.argsort(position[rows], kind="stable")]

    def insert(self, options: dict, number: int) -> Step:
        rows = self.select(options, number, "insert")
        again = rows[self.inserted_at[rows] >= 0]
        if len(again):
            raise self.fail(
                number,
                "insert",
                f"inserts {len(again)} points already inserted (first: {int(again[0])}); a "
                "point is inserted once",
            )
        rows = self.ordered(rows, options, number)
        self.inserted_at[rows] = self.sequence + np.arange(len(rows))
        self.sequence += len(rows)
        return Step(number, "insert", rows)

    def delete(self, options: dict, number: int) -> Step:
        rows = self.select(options, number, "delete")
        missing = rows[~self.active()[rows]]
        if len(missing):
            raise self.fail(
                number,
                "delete",
                f"deletes {len(missing)} points that are not active (first: {int(missing[0])}: "
                "never inserted or already deleted)",
            )
        if not len(rows):
            raise self.fail(number, "delete", "deletes no point")
        self.deleted[rows] = True
        return Step(number, "delete", rows)


def resolve(
    data: dict[str, Any],
    n: int,
    *,
    labels: np.ndarray | None = None,
    lid: np.ndarray | None = None,
    where: str = "",
) -> list[Step]:
    """The runbook's steps as base rows for a base of ``n`` vectors; refused (one line naming
    the step) where a step selects nothing valid, inserts a point twice or deletes one that
    is not active."""
    where = where or str(data.get("name", "runbook"))
    resolver = _Resolver(data, n, labels, lid, where)
    steps: list[Step] = []
    for number, step in enumerate(data["steps"], 1):
        kind, options = next(iter(step.items()))
        options = options or {}
        if kind == "insert":
            steps.append(resolver.insert(options, number))
        elif kind == "delete":
            steps.append(resolver.delete(options, number))
        elif kind == "replace":
            if set(options) != {"delete", "insert"}:
                raise resolver.fail(number, kind, "needs exactly 'delete' and 'insert'")
            steps.append(resolver.delete(options["delete"], number))
            steps.append(resolver.insert(options["insert"], number))
        else:
            queries = options.get("queries", "")
            if not isinstance(queries, str) or set(options) - SEARCH_OPTIONS:
                raise resolver.fail(number, kind, f"takes only {', '.join(sorted(SEARCH_OPTIONS))}")
            if queries and name_problem(queries):
                raise resolver.fail(
                    number, kind, f"query set name {queries!r} {name_problem(queries)}"
                )
            if not resolver.active().any():
                raise resolver.fail(number, kind, "searches an empty index; insert first")
            clients = _clients_options(options, functools.partial(resolver.fail, number, kind))
            steps.append(Step(number, "search", np.empty(0, dtype=np.int64), queries, clients))
            if "ingest" in options:
                insert = {key: value for key, value in options["ingest"].items() if key != "rate"}
                ingest = resolver.insert(insert, number)
                steps.append(Step(number, "insert", ingest.ids, during=True))
    if not any(step.kind == "search" for step in steps):
        raise UserError(f"runbook {where} has no search step; nothing would be measured")
    if steps[0].kind != "insert":
        raise UserError(f"runbook {where} step 1 must insert (the index starts empty)")
    return steps


SEARCH_OPTIONS = {"queries", "clients", "duration", "warmup", "ingest"}


def _clients_options(options: dict, fail) -> dict[str, Any] | None:
    """A search step's concurrent clients (None: the plain query sweep), checked."""
    if "clients" not in options:
        extra = sorted(set(options) & {"duration", "warmup", "ingest"})
        if extra:
            raise fail(f"{', '.join(extra)} needs 'clients: N' (concurrent clients)")
        return None
    clients = options["clients"]
    if type(clients) is not int or clients < 1:
        raise fail(f"'clients' must be a whole number >= 1, got {clients!r}")
    found = {"clients": clients}
    for key, default in (("duration", 5.0), ("warmup", 0.5)):
        value = options.get(key, default)
        if not _finite(value) or value < 0 or (key == "duration" and value == 0):
            bound = "> 0" if key == "duration" else ">= 0"
            raise fail(f"'{key}' must be a finite number of seconds {bound}, got {value!r}")
        found[key] = float(value)
    if "ingest" in options:
        ingest = options["ingest"]
        if not isinstance(ingest, dict) or "rate" not in ingest:
            raise fail("'ingest' must be an insert selection with 'rate' (points per second)")
        rate = ingest["rate"]
        if not _finite(rate) or rate <= 0:
            raise fail(
                f"ingest 'rate' must be a finite number of points per second > 0, got {rate!r}"
            )
        found["rate"] = float(rate)
    return found


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def capacity(steps: list[Step]) -> int:
    """How many points are inserted over the runbook (what an index may preallocate)."""
    return int(sum(len(step.ids) for step in steps if step.kind == "insert"))


def active_sets(steps: list[Step], n: int):
    """For each search step: (the step, a boolean mask of the points active then)."""
    active = np.zeros(n, dtype=bool)
    for step in steps:
        if step.kind == "insert":
            active[step.ids] = True
        elif step.kind == "delete":
            active[step.ids] = False
        else:
            yield step, active.copy()
