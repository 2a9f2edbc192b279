"""Runbooks of common shapes, as the plain data ``annbench.run.runbooks`` reads (and writes
as YAML): grow-only, sliding window, clustered arrival with expiry, and a seeded random mix
in the manner of big-ann-benchmarks' streaming runbooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from annbench.errors import UserError

GENERATORS = ("grow-only", "sliding-window", "clustered-arrival", "random-mix")


def _seeded(seed: int) -> str:
    """The name's seed suffix (none for seed 0), so two seeds never share a name."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"seed must be a whole number >= 0, got {seed!r}")
    return f"-seed{seed}" if seed else ""


def _chunks(n: int, steps: int, what: str = "steps") -> list[tuple[int, int]]:
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= n:
        raise UserError(f"{what} must be a whole number in 1..{n}, got {steps!r}")
    edges = np.linspace(0, n, steps + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def grow_only(n: int, steps: int = 10, seed: int = 0) -> dict[str, Any]:
    """``steps`` inserts of seeded random chunks, each followed by a search."""
    body = []
    for start, stop in _chunks(n, steps):
        body += [{"insert": {"random": [start, stop]}}, {"search": {}}]
    return {"name": f"grow-only-{steps}{_seeded(seed)}", "seed": seed, "steps": body}


def sliding_window(n: int, steps: int = 10, window: int = 4, seed: int = 0) -> dict[str, Any]:
    """Seeded random chunks arrive one per step; once ``window`` chunks are in, each new
    chunk replaces the oldest; a search after every step."""
    if not 1 <= window <= steps:
        raise UserError(f"window must lie in 1..steps ({steps}), got {window}")
    chunks = _chunks(n, steps)
    body: list[dict] = []
    for i, (start, stop) in enumerate(chunks):
        insert = {"random": [start, stop]}
        if i >= window:
            old = chunks[i - window]
            body.append({"replace": {"delete": {"random": list(old)}, "insert": insert}})
        else:
            body.append({"insert": insert})
        body.append({"search": {}})
    name = f"sliding-window-{steps}x{window}{_seeded(seed)}"
    return {"name": name, "seed": seed, "steps": body}


def clustered_arrival(
    labels: Sequence[int], window: int = 4, per_step: int = 1, seed: int = 0
) -> dict[str, Any]:
    """``per_step`` labels arrive per step (labels in a seeded order, one after another);
    once ``window`` steps are in, the oldest step's labels expire as the next arrive; a
    search after every step."""
    values = [int(v) for v in np.random.default_rng(seed).permutation(np.unique(labels))]
    if not 1 <= per_step <= len(values):
        raise UserError(f"per_step must lie in 1..{len(values)} (the labels), got {per_step}")
    groups = [values[i : i + per_step] for i in range(0, len(values), per_step)]
    if not 1 <= window <= len(groups):
        raise UserError(f"window must lie in 1..{len(groups)} (the steps), got {window}")
    body: list[dict] = []
    for i, group in enumerate(groups):
        insert = {"labels": group, "order": "clustered"}
        if i >= window:
            expired = {"labels": groups[i - window]}
            body.append({"replace": {"delete": expired, "insert": insert}})
        else:
            body.append({"insert": insert})
        body.append({"search": {}})
    name = f"clustered-arrival-{len(groups)}x{window}{_seeded(seed)}"
    return {"name": name, "seed": seed, "steps": body}


def random_mix(
    n: int,
    operations: int = 30,
    chunks: int = 20,
    seed: int = 0,
    ratios: Sequence[float] = (0.4, 0.2, 0.4),
) -> dict[str, Any]:
    """A seeded mix of inserts, deletes and searches (``ratios``: their shares) over
    ``chunks`` random chunks of the base: an insert brings the next chunk, a delete removes a
    random active chunk; the first step inserts, the last searches."""
    try:
        weights = np.asarray(ratios, dtype=float)
    except (TypeError, ValueError):
        raise UserError(
            f"ratios must be three shares (insert, delete, search), got {ratios!r}"
        ) from None
    if weights.shape != (3,) or (weights < 0).any() or weights.sum() <= 0:
        raise UserError(f"ratios must be three shares (insert, delete, search), got {ratios}")
    rng = np.random.default_rng(seed)
    parts = _chunks(n, chunks, "chunks")
    arrived, active, body = 1, [0], [{"insert": {"random": list(parts[0])}}]
    for _ in range(operations):
        kind = rng.choice(3, p=weights / weights.sum())
        if kind == 0 and arrived < len(parts):
            body.append({"insert": {"random": list(parts[arrived])}})
            active.append(arrived)
            arrived += 1
        elif kind == 1 and len(active) > 1:
            gone = active.pop(int(rng.integers(len(active))))
            body.append({"delete": {"random": list(parts[gone])}})
        else:
            body.append({"search": {}})
    if body[-1] != {"search": {}}:
        body.append({"search": {}})
    shares = "-".join(f"{w:g}" for w in weights / weights.sum())
    name = f"random-mix-{operations}ops-{chunks}chunks-{shares}{_seeded(seed)}"
    return {"name": name, "seed": seed, "steps": body}
