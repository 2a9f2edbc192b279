"""hnswlib: labels are the original ids, so no remapping is needed."""

import hnswlib
import numpy as np

from annbench.adapters.protocol import Adapter

SPACES = {"euclidean": "l2", "angular": "ip", "ip": "ip"}  # angular arrives unit-normalised


class Hnswlib(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.index = hnswlib.Index(space=SPACES[self.metric], dim=base.shape[1])
        self.index.init_index(
            max_elements=len(base),
            M=int(self.build_params.get("M", 16)),
            ef_construction=int(self.build_params.get("ef_construction", 200)),
            # hnswlib's level generator (minstd) treats seed 0 as 1: shift so 0, 1, 2 differ
            random_seed=self.seed + 1,
        )
        self.index.add_items(base, ids, num_threads=self.build_threads or -1)

    def set_query_params(self, ef: int = 10) -> None:
        self.index.set_ef(int(ef))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids, distances = self.index.knn_query(queries, k=k, num_threads=self.search_threads or -1)
        return ids.astype(np.int64), distances

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
            allowed = min(k, len(passing))
            if allowed == 0:
                continue
            found, found_distances = self.index.knn_query(
                queries[group], k=allowed, num_threads=1, filter=passing.__contains__
            )
            ids[group, :allowed] = found
            distances[group, :allowed] = found_distances
        return ids, distances
