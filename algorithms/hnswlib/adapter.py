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
