"""faiss IndexFlat: exact search, the reference every approximate index is measured against."""

import faiss
import numpy as np

from annbench.adapters.protocol import Adapter


class FaissFlat(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        dim = base.shape[1]
        flat = faiss.IndexFlatL2(dim) if self.metric == "euclidean" else faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIDMap(flat)
        self.index.add_with_ids(base, ids.astype(np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances, ids = self.index.search(queries, k)
        return ids, distances

    def memory_bytes(self) -> int:
        return len(faiss.serialize_index(self.index))
