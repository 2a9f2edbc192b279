"""Voyager: vectors added under their original ids."""

import numpy as np
from voyager import Index, Space

from annbench.adapters.protocol import Adapter

SPACES = {"euclidean": Space.Euclidean, "angular": Space.InnerProduct, "ip": Space.InnerProduct}


class VoyagerAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.index = Index(
            SPACES[self.metric],
            num_dimensions=base.shape[1],
            M=int(self.build_params.get("M", 16)),
            ef_construction=int(self.build_params.get("ef_construction", 128)),
            random_seed=self.seed + 1,
            max_elements=len(base),
        )
        self.index.add_items(base, ids=ids.tolist(), num_threads=self.build_threads or -1)

    def set_query_params(self, ef: int = 10) -> None:
        self.ef = int(ef)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids, distances = self.index.query(
            queries, k=k, num_threads=self.search_threads or -1, query_ef=max(self.ef, k)
        )
        return np.asarray(ids, dtype=np.int64), np.asarray(distances, dtype=np.float32)
