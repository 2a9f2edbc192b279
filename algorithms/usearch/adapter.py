"""USearch: keys are the original ids; l2sq for euclidean, ip otherwise (angular normalised)."""

import numpy as np
from usearch.index import Index

from annbench.adapters.protocol import Adapter


class USearchAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.index = Index(
            ndim=base.shape[1],
            metric="l2sq" if self.metric == "euclidean" else "ip",
            dtype="f32",
            connectivity=int(self.build_params.get("connectivity", 16)),
            expansion_add=int(self.build_params.get("expansion_add", 128)),
        )
        self.index.add(ids.astype(np.uint64), base, threads=self.build_threads or 0)

    def set_query_params(self, expansion_search: int = 64) -> None:
        self.index.expansion_search = int(expansion_search)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        matches = self.index.search(queries, k, threads=self.search_threads or 0)
        ids = np.asarray(matches.keys, dtype=np.int64).reshape(len(queries), -1)
        distances = np.asarray(matches.distances, dtype=np.float32).reshape(len(queries), -1)
        found = np.asarray(matches.counts).reshape(-1, 1) > np.arange(ids.shape[1])
        return np.where(found, ids, -1), np.where(found, distances, np.inf)

    def memory_bytes(self) -> int:
        return int(self.index.memory_usage)
