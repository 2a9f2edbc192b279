"""What the NGT adapters (ngt: the ANNG graph; ngt-onng: the ANNG reshaped into ONNG) share:
the metric mapping, creating an ANNG from a batch, the query knobs and answering through
``batch_search``. ``self.original`` maps NGT's internal numbers to original ids (-1: none).

``batch_search`` runs on the OpenMP threads the worker allows; on more than one it answers
differently from call to call (a few queries per 50 change their last ranks), so conformance
searches on one. A single query takes ``search``. Results give each query's own count, so
fewer than k pad cleanly.
"""

from __future__ import annotations

import os

import numpy as np

from annbench.adapters.protocol import Adapter

# angular arrives unit-normalised: L2 ranks it as cosine does; NGT answers inner product on
# the graph by lifting every object to the largest norm seen when the graph was built
DISTANCES = {"euclidean": "L2", "angular": "L2", "ip": "Inner Product"}


class NGTAdapter(Adapter):
    """Subclasses build ``self.index`` (an ``ngtpy.Index``) and ``self.original``."""

    @property
    def threads(self) -> int:
        return self.build_threads or os.cpu_count() or 1

    def create_anng(self, path: str, base: np.ndarray, creation: int, search: int):
        """An ANNG at ``path`` holding ``base`` (numbered 0..n-1 in order), opened."""
        import ngtpy

        ngtpy.create(
            path,
            base.shape[1],
            edge_size_for_creation=int(self.build_params.get("edge_size_for_creation", creation)),
            edge_size_for_search=int(self.build_params.get("edge_size_for_search", search)),
            distance_type=DISTANCES[self.metric],
            object_type="Float",
        )
        index = ngtpy.Index(path, zero_based_numbering=True, log_disabled=True)
        index.batch_insert(base, num_threads=self.threads)
        return index

    def set_query_params(self, epsilon: float = 0.1, edge_size: int = -2) -> None:
        # edge_size -2: the index's own edge_size_for_search; -1: every edge
        self.epsilon, self.edge_size = float(epsilon), int(edge_size)
        self.index.set(epsilon=self.epsilon, edge_size=self.edge_size)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        if not (self.original >= 0).any():  # everything deleted: NGT would fail
            return ids, distances
        for row, (found, found_distances) in enumerate(self._answers(queries, k)):
            count = min(len(found), k)
            ids[row, :count] = self.original[found[:count]]
            distances[row, :count] = found_distances[:count]
        return ids, distances

    def _answers(self, queries: np.ndarray, k: int):
        """Each query's (internal numbers, distances), nearest first."""
        import ngtpy

        if len(queries) == 1:
            answer = self.index.search(
                queries[0], size=k, epsilon=self.epsilon, edge_size=self.edge_size
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
