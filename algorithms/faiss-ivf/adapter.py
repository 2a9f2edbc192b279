"""faiss IndexIVFFlat: k-means coarse quantiser, exhaustive search inside nprobe cells."""

import faiss
import numpy as np

from annbench.adapters.protocol import Adapter


class FaissIVF(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        dim = base.shape[1]
        metric = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        nlist = min(int(self.build_params.get("nlist", 256)), len(base))
        self.quantizer = faiss.IndexFlat(dim, metric)
        self.index = faiss.IndexIVFFlat(self.quantizer, dim, nlist, metric)
        self.index.cp.seed = self.seed
        self.index.train(base)
        self.index.add_with_ids(base, ids.astype(np.int64))

    def set_query_params(self, nprobe: int = 1) -> None:
        self.index.nprobe = int(nprobe)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances, ids = self.index.search(queries, k)
        return ids, distances

    def memory_bytes(self) -> int:
        return len(faiss.serialize_index(self.index))
