"""faiss IndexHNSWSQ (8-bit scalar quantiser), in an IndexIDMap for original ids.

Streaming: the quantiser's ranges are trained on what ``build`` receives; ``insert`` encodes
later vectors with them (values outside are clipped). No ``delete``: faiss's HNSW graph cannot
remove nodes.
"""

import faiss
import numpy as np

from annbench.adapters.faiss_support import FaissAdapter


class FaissHNSWSQ(FaissAdapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.hnsw = faiss.IndexHNSWSQ(
            base.shape[1],
            faiss.ScalarQuantizer.QT_8bit,
            int(self.build_params.get("M", 16)),
            self.faiss_metric,
        )
        self.hnsw.hnsw.efConstruction = int(self.build_params.get("ef_construction", 40))
        self.hnsw.hnsw.rng = faiss.RandomGenerator(self.seed)
        self.hnsw.train(base)
        self.index = faiss.IndexIDMap(self.hnsw)
        self.index.add_with_ids(base, ids.astype(np.int64))

    def set_query_params(self, ef_search: int = 16) -> None:
        self.hnsw.hnsw.efSearch = int(ef_search)

    def search_parameters(self, selector):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=self.hnsw.hnsw.efSearch)
