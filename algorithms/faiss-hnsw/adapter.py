"""faiss IndexHNSWFlat, wrapped in an IndexIDMap so that it answers with the original ids.

faiss inserts one ``add`` call's vectors level by level and shuffles them within a level, so a
single call does not keep the insertion order. ``add_batch_size`` > 0 adds in calls of that
many vectors, in order (1 keeps the order exactly); 0 adds everything in one call (fastest).

Streaming: ``insert`` adds the same way as ``build``. No ``delete``: faiss's HNSW graph cannot
remove nodes (``remove_ids`` raises), so the spec declares insert alone.
"""

import faiss
import numpy as np

from annbench.adapters.faiss_support import FaissAdapter


class FaissHNSW(FaissAdapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.hnsw = faiss.IndexHNSWFlat(
            base.shape[1], int(self.build_params.get("M", 16)), self.faiss_metric
        )
        self.hnsw.hnsw.efConstruction = int(self.build_params.get("ef_construction", 40))
        self.hnsw.hnsw.rng = faiss.RandomGenerator(self.seed)  # the level of each inserted node
        self.index = faiss.IndexIDMap(self.hnsw)
        self.insert(base, ids)

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        ids = ids.astype(np.int64)
        batch = int(self.build_params.get("add_batch_size", 0)) or len(vectors)
        for start in range(0, len(vectors), batch):
            self.index.add_with_ids(vectors[start : start + batch], ids[start : start + batch])

    def set_query_params(self, ef_search: int = 16) -> None:
        self.hnsw.hnsw.efSearch = int(ef_search)

    def search_parameters(self, selector):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=self.hnsw.hnsw.efSearch)
