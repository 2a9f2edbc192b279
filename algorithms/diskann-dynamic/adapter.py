"""DiskANN's mutable in-memory Vamana graph (diskannpy ``DynamicMemoryIndex``).

``build`` creates an empty index and ``batch_insert``s the base; ``insert`` is ``batch_insert``,
``delete`` is ``mark_deleted`` per id followed by ``consolidate_delete`` (which repairs the
graph around the removed nodes and frees their slots). Vectors are identified by tags, which
must be positive uint32 values below 2**32 - 1: the tag of original id ``i`` is ``i + 1``, so
ids from 0 to 2**32 - 3 fit and larger ones are refused.

Metrics as in the static ``diskann`` adapter: ``l2`` for euclidean and for angular (unit
vectors), ``mips`` for ip, whose inner products are negated so distances ascend.

Traps:
- ``max_vectors`` is fixed when the index is made: it is ``capacity`` when the worker gives
  one (runbooks), else the build's size. An insert that would pass it is an AdapterError
  (diskannpy's own fallback consolidates and then inserts anyway).
- the native search does not say how many neighbours it found: its result arrays are
  allocated but not cleared, so when it finds fewer than ``k`` the tail holds leftover memory
  (seen after deleting most of the index, when the repaired graph no longer reaches every
  live vector). It also skips the frozen start point (it has no tag) after that point has
  taken a place in the candidate list. So ``k`` is clipped to the live vectors, the candidate
  list is at least ``k + 1`` long, and each answer is cut at its first entry that cannot be
  real (an id not live, a repeated one, a distance that is not finite or that descends) and
  padded from there. Live ids are a boolean array indexed by id (one byte per id up to the
  largest seen).
- no seed reaches the build; a one-thread build (inserts in order) is deterministic.
"""

import diskannpy
import numpy as np

from annbench.adapters.answers import found_prefix
from annbench.adapters.protocol import Adapter
from annbench.errors import AdapterError

METRICS = {"euclidean": "l2", "angular": "l2", "ip": "mips"}  # angular arrives unit-normalised
LARGEST_ID = 2**32 - 3  # its tag, id + 1, must stay below 2**32 - 1
FROZEN_POINTS = 1  # diskannpy's default for a dynamic index: the start point, without a tag


def tags(ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() > LARGEST_ID):
        raise AdapterError(
            f"diskann-dynamic stores id + 1 as a uint32 tag: ids must lie in [0, {LARGEST_ID}]"
        )
    return (ids + 1).astype(np.uint32)


class DiskANNDynamic(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.max_vectors = int(self.capacity or len(base))
        build_complexity = int(self.build_params.get("build_complexity", 125))
        self.index = diskannpy.DynamicMemoryIndex(
            distance_metric=METRICS[self.metric],
            vector_dtype=np.float32,
            dimensions=int(base.shape[1]),
            max_vectors=self.max_vectors,
            complexity=build_complexity,
            graph_degree=int(self.build_params.get("graph_degree", 32)),
            alpha=float(self.build_params.get("alpha", 1.2)),
            num_threads=self.build_threads or 0,
            num_frozen_points=FROZEN_POINTS,
            initial_search_complexity=build_complexity,
            search_threads=0,  # one search scratch per processor, so no search thread waits
        )
        self.live = 0
        self.present = np.zeros(0, dtype=bool)  # by original id
        self.insert(base, ids)

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        vector_tags = tags(ids)
        if self.live + len(vectors) > self.max_vectors:
            raise AdapterError(
                f"diskann-dynamic cannot hold {self.live + len(vectors)} vectors: its "
                f"max_vectors, fixed when the index was made, is {self.max_vectors}"
            )
        self.index.batch_insert(
            np.ascontiguousarray(vectors, dtype=np.float32),
            vector_tags,
            num_threads=self.build_threads or 0,
        )
        self.live += len(vectors)
        if len(ids) and ids.max() >= len(self.present):
            grown = np.zeros(max(int(ids.max()) + 1, 2 * len(self.present)), dtype=bool)
            grown[: len(self.present)] = self.present
            self.present = grown
        self.present[ids] = True

    def delete(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        for tag in tags(ids).tolist():
            self.index.mark_deleted(tag)
        self.index.consolidate_delete()
        self.live -= len(ids)
        self.present[ids] = False

    def set_query_params(self, complexity: int = 40) -> None:
        self.complexity = int(complexity)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        found = min(k, self.live)
        if found == 0:
            return ids, distances
        found_tags, scores = self.index.batch_search(
            np.ascontiguousarray(queries, dtype=np.float32),
            found,
            max(self.complexity, found + FROZEN_POINTS),
            self.search_threads or 0,
        )
        found_ids = found_tags.astype(np.int64) - 1
        scores = -scores if self.metric == "ip" else scores
        inside = (found_ids >= 0) & (found_ids < len(self.present))
        known = inside & self.present[np.where(inside, found_ids, 0)]
        real = np.arange(found) < found_prefix(found_ids, scores, known)[:, None]
        ids[:, :found] = np.where(real, found_ids, -1)
        distances[:, :found] = np.where(real, scores, np.inf)
        return ids, distances
