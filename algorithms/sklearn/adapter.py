"""scikit-learn's exact NearestNeighbors. Angular data arrives unit-normalised, where the
euclidean order is the cosine order."""

import numpy as np
from sklearn.neighbors import NearestNeighbors

from annbench.adapters.protocol import Adapter


class SklearnNeighbors(Adapter):
    metrics = ("euclidean", "angular")

    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.index = NearestNeighbors(
            algorithm=self.build_params.get("algorithm", "brute"),
            leaf_size=int(self.build_params.get("leaf_size", 40)),
            n_jobs=self.build_threads,
        ).fit(base)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances, positions = self.index.kneighbors(queries, n_neighbors=k)
        return self.ids[positions], distances

    def memory_bytes(self) -> int:
        """The fitted estimator pickled: its copy of the data, plus the tree if it built one."""
        from annbench.adapters.sizes import pickled_bytes

        return pickled_bytes(self.index)
