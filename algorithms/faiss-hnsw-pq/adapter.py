"""faiss IndexHNSWPQ: an HNSW graph over product-quantised codes, in an IndexIDMap so that it
answers with the original ids.

Traps:
- ``pq_m`` sub-quantisers must divide the dimension. A ``pq_m`` above the dimension is clamped
  to it (one dimension per sub-quantiser), so one default serves 16-, 32- and 64-d data; any
  other ``pq_m`` that does not divide is refused.
- Each sub-quantiser trains ``2**nbits`` centroids, so the build needs at least that many
  vectors (faiss would throw from its k-means).
- faiss links the graph with code-to-code distances read from the PQ's symmetric tables, which
  are L2 whatever the index metric: under inner product the build links the wrong neighbours
  (recall@10 0.45 at ef_search 160 on 2000 x 16 Gaussian data, against 0.98 for L2). So ip is
  not offered, and angular (unit vectors, which L2 ranks exactly as cosine) is built and
  searched as L2.

Streaming: ``insert`` encodes later vectors with the codebooks trained at build. No
``delete``: faiss's HNSW graph cannot remove nodes.
"""

import faiss
import numpy as np

from annbench.adapters.faiss_support import FaissAdapter
from annbench.errors import AdapterError


class FaissHNSWPQ(FaissAdapter):
    metrics = ("euclidean", "angular")
    scores_are_distances = True  # L2 for angular too, on the unit vectors

    @property
    def faiss_metric(self) -> int:
        return faiss.METRIC_L2  # see the module docstring: the PQ graph is built under L2

    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        count, dim = base.shape
        pq_m = min(int(self.build_params.get("pq_m", 32)), dim)
        nbits = int(self.build_params.get("nbits", 8))
        if dim % pq_m:
            raise AdapterError(f"pq_m={pq_m} sub-quantisers do not divide dimension {dim}")
        if count < 2**nbits:
            raise AdapterError(
                f"nbits={nbits} trains {2**nbits} centroids per sub-quantiser: "
                f"{count} vectors are too few"
            )
        self.hnsw = faiss.IndexHNSWPQ(
            dim, pq_m, int(self.build_params.get("M", 16)), nbits, self.faiss_metric
        )
        self.hnsw.hnsw.efConstruction = int(self.build_params.get("ef_construction", 40))
        self.hnsw.hnsw.rng = faiss.RandomGenerator(self.seed)
        faiss.downcast_index(self.hnsw.storage).pq.cp.seed = self.seed
        self.hnsw.train(base)
        self.index = faiss.IndexIDMap(self.hnsw)
        self.index.add_with_ids(base, ids.astype(np.int64))

    def set_query_params(self, ef_search: int = 16) -> None:
        self.hnsw.hnsw.efSearch = int(ef_search)

    def search_parameters(self, selector) -> faiss.SearchParametersHNSW:
        return faiss.SearchParametersHNSW(sel=selector, efSearch=self.hnsw.hnsw.efSearch)
