"""Make a dataset file from parts in bounded memory: the base is written block by block, and
ground truth, the mean distances and the per-query measures are computed from the file's
blocks, so the whole base is never in memory.

The values equal those of the in-memory path (``groundtruth.save_with_ground_truth``): the
same generators' draws, the same scan blocks, the same float64 arithmetic.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from annbench.errors import UserError
from annbench.errors.files import atomic_path

log = logging.getLogger(__name__)


def make_dataset_file(
    path: str | os.PathLike,
    generator: str,
    params: dict[str, Any] | None,
    *,
    seed: int = 0,
    metric: str = "euclidean",
    k: int = 100,
    overwrite: bool = False,
    progress: bool | None = None,
    extra_source: dict[str, Any] | None = None,
) -> Path:
    """Generate, compute ground truth and write ``path``, block by block; subspace and
    manifold (``MEASURED``) then measure pointwise LID on the whole base, read back."""
    from annbench.datasets.synthetic import (
        MEASURED,
        STREAMED,
        check_memory,
        generator_parts,
        make_synthetic,
        resolve_params,
    )

    path = Path(path)
    _refuse_existing(path, overwrite)
    if generator not in STREAMED:
        dataset = make_synthetic(generator, params, seed=seed, metric=metric)
        dataset.source.update(extra_source or {})
        return write_dataset_parts(
            path,
            _dataset_parts(dataset),
            shape=dataset.base.shape,
            n_queries=len(dataset.queries),
            metric=metric,
            source=dataset.source,
            k=k,
            overwrite=overwrite,
            progress=progress,
            lid=dataset.lid,
            intrinsic=dataset.intrinsic,
        )
    merged = resolve_params(generator, params)
    check_memory(generator, merged, path.parent)
    source = {"generator": generator, "params": merged, "seed": seed, **(extra_source or {})}
    return write_dataset_parts(
        path,
        generator_parts(generator, merged, seed),
        shape=(merged["n"], merged["dim"]),
        n_queries=merged["n_queries"],
        metric=metric,
        source=source,
        k=k,
        overwrite=overwrite,
        progress=progress,
        measure_intrinsic=generator in MEASURED,
    )


def import_dataset_file(
    path: str | os.PathLike, plan, *, metric: str, k: int = 100, overwrite: bool = False
) -> Path:
    """Write an import (``formats.plan_import``) to ``path``, reading the base block by block."""
    return write_dataset_parts(
        path,
        plan.parts(),
        shape=plan.shape,
        n_queries=len(plan.queries),
        metric=metric,
        source=plan.provenance,
        k=k,
        overwrite=overwrite,
        neighbors=plan.neighbors,
    )


def write_dataset_parts(
    path: str | os.PathLike,
    parts: Iterable[tuple[str, np.ndarray]],
    *,
    shape: tuple[int, int],
    n_queries: int,
    metric: str,
    source: dict[str, Any],
    k: int = 100,
    overwrite: bool = False,
    progress: bool | None = None,
    neighbors: np.ndarray | None = None,
    lid: np.ndarray | None = None,
    intrinsic: dict[str, Any] | None = None,
    measure_intrinsic: bool = False,
) -> Path:
    """Write a dataset file from ``parts`` ("labels", "base" blocks in order, "queries"), with
    exact top-``k`` ground truth (or the distances of the given ``neighbors``) and the
    per-query measures; atomically: the file appears only once complete. With
    ``measure_intrinsic``, pointwise LID and the global estimates are taken on the base read
    back from the file (``annotate.annotate_intrinsic``: memory beyond the 1.5x bound)."""
    from annbench.datasets.file_measures import CovarianceSample
    from annbench.datasets.writer import DatasetWriter

    path = Path(path)
    _refuse_existing(path, overwrite)
    phases = _Phases()
    kept = CovarianceSample(shape)  # the measures' sample, kept as the base streams past
    _load_kernels_aside()
    with atomic_path(path) as tmp:
        writer = DatasetWriter(
            tmp, n=shape[0], n_queries=n_queries, dim=shape[1], metric=metric, source=source
        )
        try:
            with phases("generate+write"):
                for kind, array in _prefetched(parts):
                    if kind == "base":
                        kept.add(writer.rows, array)
                        writer.append_base(array)
                    elif kind == "queries":
                        queries = writer.set_queries(array)
                    else:
                        writer.put(kind, array, np.int64)
            _ground_truth(writer, queries, metric, k, neighbors, phases, progress, kept)
            if measure_intrinsic:
                with phases("intrinsic"):
                    lid, intrinsic = _intrinsic(writer.train, queries, metric, progress)
            if lid is not None:
                writer.put("lid", lid, np.float64)
            writer.close(intrinsic)
        except BaseException:
            writer.abort()
            raise
    log.debug("made %s: %s", path, phases, extra={"phases": phases.seconds})
    return path


def _intrinsic(train, queries: np.ndarray, metric: str, progress: bool | None):
    """Pointwise LID and the global estimates of the whole base, as ``make_synthetic``
    takes them from the in-memory base (the same float32 values, read back)."""
    from annbench.datasets.annotate import annotate_intrinsic
    from annbench.datasets.store import Dataset

    dataset = Dataset(base=train[()], queries=queries, metric=metric)
    annotate_intrinsic(dataset, progress=progress)
    return dataset.lid, dataset.intrinsic


def _ground_truth(writer, queries, metric, k, neighbors, phases, progress, kept) -> None:
    from annbench.datasets.file_measures import put_ground_truth, put_measures
    from annbench.datasets.groundtruth import mean_distances, refine

    if neighbors is None:
        put_ground_truth(writer, queries, metric, k, kept, progress=progress, phases=phases)
        return
    train = writer.train
    with phases("means"):
        means, record = mean_distances(train, queries, metric, progress=progress)
    with phases("refine"):
        ids, distances = refine(train, queries, neighbors, metric)
    writer.put("neighbors", ids, np.int64)
    writer.put("distances", distances, np.float32)
    with phases("measures"):
        put_measures(writer, queries, metric, kept, distances, means, record)


def _load_kernels_aside() -> None:
    """Load refine's compiled kernel (numba's on-disk cache, about 0.3 s) on a helper thread
    while the base is made, so refining does not wait for it."""

    def load() -> None:
        from annbench.datasets._distance_kernels import pair_distances_rows

        block = np.zeros((1, 1), dtype=np.float32)
        pairs = np.zeros(1, dtype=np.int64)
        pair_distances_rows(block, 0, block, pairs, pairs, 0, np.empty(1))

    threading.Thread(target=load, name="annbench-kernels", daemon=True).start()


def _dataset_parts(dataset) -> Iterator[tuple[str, np.ndarray]]:
    if dataset.labels is not None:
        yield "labels", dataset.labels
    rows = 1 << 16
    for start in range(0, len(dataset.base), rows):
        yield "base", dataset.base[start : start + rows]
    yield "queries", dataset.queries


def _prefetched(parts: Iterable, depth: int = 2) -> Iterator:
    """``parts`` made on a helper thread, up to ``depth`` ahead (numpy's generators and file
    reads release the GIL, so making overlaps writing and hashing)."""
    done = object()
    pending: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in parts:
                if stop.is_set():
                    return
                pending.put((item, None))
        except BaseException as exc:  # re-raised on the consuming thread
            pending.put((None, exc))
            return
        pending.put((done, None))

    thread = threading.Thread(target=produce, name="annbench-parts", daemon=True)
    thread.start()
    try:
        while True:
            item, error = pending.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                pending.get(timeout=0.1)
        thread.join()


class _Phases:
    """Wall time per phase, for the debug log and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str):
        return _Timed(self.seconds, name)

    def __str__(self) -> str:
        return ", ".join(f"{name} {value:.2f} s" for name, value in self.seconds.items())


class _Timed:
    def __init__(self, seconds: dict[str, float], name: str) -> None:
        self.seconds, self.name = seconds, name

    def __enter__(self) -> None:
        self.start = time.perf_counter_ns()

    def __exit__(self, *exc) -> None:
        elapsed = (time.perf_counter_ns() - self.start) / 1e9
        self.seconds[self.name] = self.seconds.get(self.name, 0.0) + elapsed


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; pass --force to replace it")
