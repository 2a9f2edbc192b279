"""hnswlib: labels are the original ids, so no remapping is needed.

Streaming: ``insert`` is ``add_items``, ``delete`` is ``mark_deleted`` per id (the graph keeps
the node, searches skip it). The index is sized for ``capacity`` when the worker gives one;
by default a deleted node keeps its slot, so an insert that would pass ``max_elements`` first
grows the index with ``resize_index``. With the optional build parameter
``replace_deleted: true`` (hnswlib's ``allow_replace_deleted``) new points take the slots of
deleted ones instead (added one thread at a time, as hnswlib requires for replacement).
hnswlib refuses a query for more neighbours than live vectors (passing the filter), so once
deletes leave fewer than k, ``search`` and ``filtered_search`` ask for what is left and pad.
"""

import hnswlib
import numpy as np

from annbench.adapters.protocol import Adapter

SPACES = {"euclidean": "l2", "angular": "ip", "ip": "ip"}  # angular arrives unit-normalised


class Hnswlib(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.index = hnswlib.Index(space=SPACES[self.metric], dim=base.shape[1])
        self.index.init_index(
            max_elements=self.capacity or len(base),
            M=int(self.build_params.get("M", 16)),
            ef_construction=int(self.build_params.get("ef_construction", 200)),
            # hnswlib's level generator (minstd) treats seed 0 as 1: shift so 0, 1, 2 differ
            random_seed=self.seed + 1,
            allow_replace_deleted=self.replace_deleted,
        )
        self.index.add_items(base, ids, num_threads=self.build_threads or -1)
        self.deleted: set[int] = set()

    @property
    def replace_deleted(self) -> bool:
        return bool(self.build_params.get("replace_deleted", False))

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if self.replace_deleted:
            reused = min(len(vectors), len(self.deleted))
            needed = self.index.element_count + len(vectors) - reused
            if needed > self.index.max_elements:
                self.index.resize_index(needed)
            self.index.add_items(vectors, ids, num_threads=1, replace_deleted=True)
            # which deleted labels lost their slots hnswlib does not say; only their number
            # matters here (the count of live points)
            self.deleted = set(list(self.deleted)[reused:])
            return
        needed = self.index.element_count + len(vectors)  # deleted nodes keep their slots
        if needed > self.index.max_elements:
            self.index.resize_index(max(needed, 2 * self.index.max_elements))
        self.index.add_items(vectors, ids, num_threads=self.build_threads or -1)

    def delete(self, ids: np.ndarray) -> None:
        for label in ids.tolist():
            self.index.mark_deleted(label)
        self.deleted.update(ids.tolist())

    def memory_bytes(self) -> int:
        """hnswlib's own size of the index: vectors, labels and every level's links."""
        return int(self.index.index_file_size())

    def set_query_params(self, ef: int = 10) -> None:
        self.index.set_ef(int(ef))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        live = min(k, self.index.element_count - len(self.deleted))
        if live == k:
            ids, distances = self.index.knn_query(
                queries, k=k, num_threads=self.search_threads or -1
            )
            return ids.astype(np.int64), distances
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        if live > 0:
            found = self.index.knn_query(queries, k=live, num_threads=self.search_threads or -1)
            ids[:, :live], distances[:, :live] = found
        return ids, distances

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """hnswlib's filter function: a Python callable asked about every candidate label the
        graph search meets (queries sharing a filter share one call). It needs the GIL, so it
        runs on one thread; fewer than k passing vectors give a padded answer."""
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for group in filters.groups():
            passing = set(filters.passing(self.attributes, int(group[0])).tolist())
            passing -= self.deleted
            allowed = min(k, len(passing))
            if allowed == 0:
                continue
            found, found_distances = self.index.knn_query(
                queries[group], k=allowed, num_threads=1, filter=passing.__contains__
            )
            ids[group, :allowed] = found
            distances[group, :allowed] = found_distances
        return ids, distances
