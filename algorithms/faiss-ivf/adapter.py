"""faiss IndexIVFFlat: k-means coarse quantiser, exhaustive search inside nprobe cells.

Streaming: the cells are trained on what ``build`` receives (a runbook's first batch);
``insert`` assigns later vectors to those cells (``add_with_ids``), ``delete`` removes ids from
their inverted lists (``remove_ids``, a scan of every list).
"""

import faiss
import numpy as np

from annbench.adapters.faiss_support import FaissAdapter


class FaissIVF(FaissAdapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        dim = base.shape[1]
        nlist = min(int(self.build_params.get("nlist", 256)), len(base))
        self.quantizer = faiss.IndexFlat(dim, self.faiss_metric)
        self.index = faiss.IndexIVFFlat(self.quantizer, dim, nlist, self.faiss_metric)
        self.index.cp.seed = self.seed
        self.index.train(base)
        self.index.add_with_ids(base, ids.astype(np.int64))

    def set_query_params(self, nprobe: int = 1) -> None:
        self.index.nprobe = int(nprobe)

    def search_parameters(self, selector):
        return faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nprobe)
