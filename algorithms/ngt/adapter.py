"""NGT (Yahoo Japan's neighbourhood graph and tree) through ngtpy: an ANNG graph built by
incremental insertion, searched with NGT's epsilon-expanded graph walk.

Traps handled here:

* NGT keeps its index on disk: it lives in a temporary directory that ``close`` removes.
* NGT numbers objects itself (from 0 with ``zero_based_numbering``) and hands a removed
  object's number to the next object inserted, so internal numbers are mapped to original ids
  in both directions (an int64 array one way, a dict the other), kept in step with every
  insert and remove. ``insert`` therefore adds one object at a time (``Index.insert`` returns
  the number given; ``batch_insert`` does not) and then links them with ``build_index``.
* Metrics: euclidean and angular (unit vectors arrive normalised, so L2 order is cosine order,
  and a zero vector cannot trip NGT's cosine normalisation) use NGT's ``L2``; ip uses
  ``Inner Product``, which NGT answers on the graph by lifting every object to the largest norm
  seen when the graph was built. A vector inserted later with a larger norm breaks that lift
  (recall fell to 0 when we tried), so ``insert`` refuses one under ip.
* Queries: ``batch_search`` (one call for the whole set, on the OpenMP threads the worker
  allows). On more than one thread it answers differently from call to call (a few queries
  per 50 change their last ranks), so conformance searches on one; a single query takes
  ``search``. Results give each query's own count, so fewer than k pad cleanly.
* NGT takes no seed; an ANNG built on one thread in a fixed order repeats exactly.
"""

from __future__ import annotations

import os
import tempfile

import ngtpy
import numpy as np

from annbench.adapters.protocol import Adapter
from annbench.errors import AdapterError

DISTANCES = {"euclidean": "L2", "angular": "L2", "ip": "Inner Product"}


class NGT(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="annbench-ngt-")
        path = os.path.join(self.directory.name, "anng")
        ngtpy.create(
            path,
            base.shape[1],
            edge_size_for_creation=int(self.build_params.get("edge_size_for_creation", 10)),
            edge_size_for_search=int(self.build_params.get("edge_size_for_search", 40)),
            distance_type=DISTANCES[self.metric],
            object_type="Float",
        )
        self.index = ngtpy.Index(path, zero_based_numbering=True, log_disabled=True)
        self.index.batch_insert(base, num_threads=self.threads)
        # a fresh index numbers a batch 0..n-1 in order
        self.original = np.full(max(self.capacity or 0, len(base)), -1, dtype=np.int64)
        self.original[: len(base)] = ids
        self.internal = dict(zip(ids.tolist(), range(len(base))))
        self.max_norm = float(np.linalg.norm(base, axis=1).max()) if len(base) else 0.0
        self.set_query_params()

    @property
    def threads(self) -> int:
        return self.build_threads or os.cpu_count() or 1

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if self.metric == "ip" and len(vectors):
            largest = float(np.linalg.norm(vectors, axis=1).max())
            if largest > self.max_norm * (1 + 1e-6):
                raise AdapterError(
                    f"ngt: an inserted vector's norm {largest:.4g} exceeds the largest built "
                    f"norm {self.max_norm:.4g}; NGT's inner product cannot take it"
                )
        for vector, original in zip(vectors, ids.tolist()):
            number = int(self.index.insert(vector))
            if number >= len(self.original):
                grown = np.full(max(2 * len(self.original), number + 1), -1, dtype=np.int64)
                grown[: len(self.original)] = self.original
                self.original = grown
            self.original[number] = original
            self.internal[original] = number
        self.index.build_index(num_threads=self.threads)

    def delete(self, ids: np.ndarray) -> None:
        for original in ids.tolist():
            number = self.internal.pop(original)
            self.index.remove(number)
            self.original[number] = -1

    def set_query_params(self, epsilon: float = 0.1, edge_size: int = -2) -> None:
        # edge_size -2: the index's own edge_size_for_search; -1: every edge
        self.epsilon, self.edge_size = float(epsilon), int(edge_size)
        self.index.set(epsilon=self.epsilon, edge_size=self.edge_size)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        if not self.internal:
            return ids, distances
        for row, (found, found_distances) in enumerate(self._answers(queries, k)):
            count = min(len(found), k)
            ids[row, :count] = self.original[found[:count]]
            distances[row, :count] = found_distances[:count]
        return ids, distances

    def _answers(self, queries: np.ndarray, k: int):
        """Each query's (internal numbers, distances), nearest first: ``batch_search`` on the
        OpenMP threads the worker allows (with more than one, a few queries per 50 may differ
        in their last ranks from call to call: conformance searches on one), ``search`` for a
        single query."""
        if len(queries) == 1:
            for query in queries:
                answer = self.index.search(
                    query, size=k, epsilon=self.epsilon, edge_size=self.edge_size
                )
                yield (
                    np.fromiter((number for number, _ in answer), np.int64, len(answer)),
                    np.fromiter((distance for _, distance in answer), np.float32, len(answer)),
                )
            return
        results = ngtpy.BatchResults()
        self.index.batch_search(queries, results, size=k, with_distance=True)
        found = results.get_indexed_ids().astype(np.int64)
        found_distances = results.get_indexed_distances()
        offsets = results.get_index().astype(np.int64)  # each query's start, then the end
        if len(offsets) == len(queries):
            offsets = np.append(offsets, len(found))
        for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
            yield found[start:end], found_distances[start:end]

    def close(self) -> None:
        index = getattr(self, "index", None)
        if index is not None:
            index.close()
            self.index = None
        directory = getattr(self, "directory", None)
        if directory is not None:
            directory.cleanup()
            self.directory = None
