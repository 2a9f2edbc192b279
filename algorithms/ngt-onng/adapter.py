"""NGT's ONNG through ngtpy: an ANNG graph built first, then rebuilt by ngtpy's Optimizer
into a static graph with bounded out-degree and adjusted in-degree, searched like the ANNG.

Traps handled here:

* The optimised graph is a new index written to disk; both graphs live in a temporary
  directory that ``close`` removes. The ONNG cannot take inserts or deletes, so the spec
  declares none (the ``ngt`` adapter streams on the ANNG).
* ``Optimizer.execute`` by default also tunes search coefficients, prefetching and an accuracy
  table by timing searches: that took 40 to 90 seconds on 2,000 vectors here, lowered recall,
  and made two builds differ. Only the graph reconstruction (shortcut reduction with the
  requested degrees) is kept, as NGT's own ``reconstruct-graph`` does.
* NGT numbers the batch 0..n-1 in order (zero-based numbering), so positions map to ids.
* Metrics as the ``ngt`` adapter: L2 for euclidean and angular (unit vectors), ``Inner
  Product`` for ip (NGT lifts objects to the build's largest norm).
* Queries as the ``ngt`` adapter: ``batch_search`` on the threads the worker allows (on
  several its answers vary from call to call), ``search`` for a single query; short answers
  pad with -1.
"""

from __future__ import annotations

import os
import tempfile

import ngtpy
import numpy as np

from annbench.adapters.protocol import Adapter

DISTANCES = {"euclidean": "L2", "angular": "L2", "ip": "Inner Product"}


class NGTONNG(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="annbench-ngt-onng-")
        anng = os.path.join(self.directory.name, "anng")
        onng = os.path.join(self.directory.name, "onng")
        ngtpy.create(
            anng,
            base.shape[1],
            edge_size_for_creation=int(self.build_params.get("edge_size_for_creation", 100)),
            edge_size_for_search=int(self.build_params.get("edge_size_for_search", 40)),
            distance_type=DISTANCES[self.metric],
            object_type="Float",
        )
        index = ngtpy.Index(anng, zero_based_numbering=True, log_disabled=True)
        index.batch_insert(base, num_threads=self.build_threads or os.cpu_count() or 1)
        index.save()
        index.close()
        optimizer = ngtpy.Optimizer(
            num_of_outgoings=int(self.build_params.get("outdegree", 10)),
            num_of_incomings=int(self.build_params.get("indegree", 120)),
            log_disabled=True,
        )
        optimizer.set_processing_modes(
            shortcut_reduction=True,
            search_parameter_optimization=False,
            prefetch_parameter_optimization=False,
            accuracy_table_generation=False,
        )
        optimizer.execute(anng, onng)
        self.index = ngtpy.Index(onng, zero_based_numbering=True, log_disabled=True)
        self.original = np.asarray(ids, dtype=np.int64).copy()
        self.set_query_params()

    def set_query_params(self, epsilon: float = 0.1, edge_size: int = -2) -> None:
        # edge_size -2: the index's own edge_size_for_search; -1: every edge
        self.epsilon, self.edge_size = float(epsilon), int(edge_size)
        self.index.set(epsilon=self.epsilon, edge_size=self.edge_size)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
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
