"""faiss IndexIVFPQ: coarse k-means cells holding product-quantised residuals.

Streaming: the cells and codebooks are trained on what ``build`` receives (a runbook's first
batch); ``insert`` encodes later vectors with them (``add_with_ids``), ``delete`` removes ids
from their inverted lists (``remove_ids``).
"""

import faiss
import numpy as np

from annbench.adapters.faiss_support import FaissAdapter
from annbench.errors import AdapterError


class FaissIVFPQ(FaissAdapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        dim = base.shape[1]
        m, nbits = int(self.build_params.get("m", 8)), int(self.build_params.get("nbits", 8))
        if dim % m:
            raise AdapterError(f"m={m} sub-quantisers do not divide dimension {dim}")
        nlist = min(int(self.build_params.get("nlist", 256)), len(base))
        self.quantizer = faiss.IndexFlat(dim, self.faiss_metric)
        self.index = faiss.IndexIVFPQ(self.quantizer, dim, nlist, m, nbits, self.faiss_metric)
        self.index.cp.seed = self.seed
        self.index.train(base)
        self.index.add_with_ids(base, ids.astype(np.int64))

    def set_query_params(self, nprobe: int = 1) -> None:
        self.index.nprobe = int(nprobe)
