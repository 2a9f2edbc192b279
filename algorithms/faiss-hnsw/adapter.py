"""faiss IndexHNSWFlat, wrapped in an IndexIDMap so that it answers with the original ids."""

import faiss
import numpy as np

from annbench.adapters.protocol import Adapter


class FaissHNSW(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        metric = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        self.hnsw = faiss.IndexHNSWFlat(base.shape[1], int(self.build_params.get("M", 16)), metric)
        self.hnsw.hnsw.efConstruction = int(self.build_params.get("ef_construction", 40))
        self.hnsw.hnsw.rng = faiss.RandomGenerator(self.seed)  # the level of each inserted node
        self.index = faiss.IndexIDMap(self.hnsw)
        self.index.add_with_ids(base, ids.astype(np.int64))

    def set_query_params(self, ef_search: int = 16) -> None:
        self.hnsw.hnsw.efSearch = int(ef_search)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances, ids = self.index.search(queries, k)
        return ids, distances

    def memory_bytes(self) -> int:
        return len(faiss.serialize_index(self.index))
