"""faiss IndexNSGFlat: a navigating spreading-out graph pruned from a kNN graph of ``GK``
neighbours, each node keeping at most ``R`` links; searched with a pool of ``search_L``.

The kNN graph is built here with faiss's NNDescent (IndexNNDescentFlat, the settings IndexNSG
would use) seeded from ``self.seed``, then handed to ``IndexNSG.build``: IndexNSG's own ``add``
runs NNDescent with a fixed internal seed. Ids: the graph is built over positions, mapped back
to the original ids here (an IndexIDMap would need ``add``).

Traps (faiss 1.15):
- built once: a second ``add`` throws ("NSG does not support incremental addition"),
  ``remove_ids`` is not implemented and search parameters (selectors) are refused, so no
  streaming and no filters.
- NNDescent refuses 100 vectors or fewer and aborts the process (an assertion) when a node's
  candidate pool (``GK + 50``) cannot fill from the base (GK 64: 101 vectors aborted, 114
  did not): bases of at most twice that pool get an exact kNN graph (IndexNSG's brute-force
  ``build_type``) instead.
- ``GK`` at or above the number of vectors corrupts the heap: refused.
- a pool larger than the base (``search_L`` or ``k`` above ``ntotal``, or the build's pool
  ``R + 32`` on a small base) spins forever looking for unvisited nodes: all are clamped to
  the number of vectors.
- a small ``R`` can spin forever too, when every reachable node is full while linking an
  unreachable one (R=6 hung here on 2000 x 16 inner product, R=5 on blobs-10k-32): the spec's
  minimum keeps a margin.
"""

import faiss
import numpy as np

from annbench.adapters.faiss_support import FaissAdapter
from annbench.errors import AdapterError


class FaissNSG(FaissAdapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        count, dim = base.shape
        knn = int(self.build_params.get("GK", 64))
        if knn >= count:
            raise AdapterError(f"GK={knn} neighbours need more than the {count} vectors given")
        self.index = faiss.IndexNSGFlat(dim, int(self.build_params.get("R", 32)), self.faiss_metric)
        self.index.GK = knn
        self.index.nsg.rng = faiss.RandomGenerator(self.seed)  # the navigating node's search start
        self.index.nsg.L = min(self.index.nsg.L, count)  # the build's pool (R + 32 by default)
        self.index.nsg.search_L = min(self.index.nsg.search_L, count)  # used while linking
        pool = max(self.index.nndescent_L, knn + 50)
        if count > 2 * pool:
            self.index.build(base, self.knn_graph(base, knn, pool))
        else:
            self.index.build_type = 0  # exact kNN graph (see the module docstring)
            self.index.add(base)
        self.ids = ids.astype(np.int64)

    def knn_graph(self, base: np.ndarray, knn: int, pool: int) -> np.ndarray:
        """NNDescent's approximate kNN graph over positions, (n, knn) int64."""
        nndescent = faiss.IndexNNDescentFlat(base.shape[1], knn, self.faiss_metric)
        settings = nndescent.nndescent
        settings.S, settings.R = self.index.nndescent_S, self.index.nndescent_R
        settings.L, settings.iter = pool, self.index.nndescent_iter
        settings.random_seed = self.seed
        nndescent.add(base)
        graph = faiss.vector_to_array(settings.final_graph)
        return graph.astype(np.int64).reshape(len(base), knn)

    def set_query_params(self, search_L: int = 16) -> None:
        self.index.nsg.search_L = min(int(search_L), self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        found_ids, found = super().search(queries, min(k, self.index.ntotal))
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        ids[:, : found_ids.shape[1]] = np.where(found_ids >= 0, self.ids[found_ids], -1)
        distances[:, : found.shape[1]] = found
        return ids, distances

    def memory_bytes(self) -> int:
        return super().memory_bytes() + self.ids.nbytes
