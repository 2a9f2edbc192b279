"""Annoy: items are added in the given order under their original ids."""

import numpy as np
from annoy import AnnoyIndex

from annbench.adapters.protocol import Adapter

METRICS = {"euclidean": "euclidean", "angular": "dot", "ip": "dot"}  # angular arrives normalised


class AnnoyAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.index = AnnoyIndex(base.shape[1], METRICS[self.metric])
        self.index.set_seed(self.seed)
        for vector_id, vector in zip(ids.tolist(), base):
            self.index.add_item(vector_id, vector)
        self.index.build(int(self.build_params.get("n_trees", 50)), n_jobs=self.build_threads or -1)

    def set_query_params(self, search_k: int = -1) -> None:
        self.search_k = int(search_k)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for row, query in enumerate(queries):
            found, scores = self.index.get_nns_by_vector(
                query, k, search_k=self.search_k, include_distances=True
            )
            ids[row, : len(found)] = found
            scores = np.asarray(scores, dtype=np.float32)
            distances[row, : len(found)] = scores if self.metric == "euclidean" else -scores
        return ids, distances
