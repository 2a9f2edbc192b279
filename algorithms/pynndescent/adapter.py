"""PyNNDescent: positions in the index map back to original ids."""

import numpy as np
from pynndescent import NNDescent

from annbench.adapters.protocol import Adapter

METRICS = {"euclidean": "euclidean", "angular": "dot", "ip": "dot"}  # angular arrives normalised


class PyNNDescentAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.index = NNDescent(
            base,
            metric=METRICS[self.metric],
            n_neighbors=int(self.build_params.get("n_neighbors", 30)),
            random_state=self.seed,
            n_jobs=self.build_threads or -1,
        )
        self.index.prepare()

    def set_query_params(self, epsilon: float = 0.1) -> None:
        self.epsilon = float(epsilon)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        positions, distances = self.index.query(queries, k=k, epsilon=self.epsilon)
        return np.where(positions >= 0, self.ids[positions], -1), distances

    def memory_bytes(self) -> int:
        """The prepared index pickled: its data, search graph and trees, and the k-NN graph
        it keeps from the build."""
        from annbench.adapters.sizes import pickled_bytes

        return pickled_bytes(self.index)
