"""faiss IndexIVFPQFastScan (``IVF{nlist},PQ{m}x4fs``): coarse k-means cells holding 4-bit
product-quantised codes, scanned in SIMD registers (blocks of 32 codes).

Traps:
- the codes are 4 bits per sub-quantiser (16 centroids), so recall levels off well below 1:
  recall@10 0.786 at nprobe 64 on blobs-10k-32 even at one dimension per sub-quantiser. For
  high recall, faiss-ivfpq-fs-refine re-ranks with the exact vectors.
- ``m`` must divide the dimension; an ``m`` above the dimension is clamped to it (one
  dimension per sub-quantiser), any other that does not divide is refused.
- ``nlist`` is clamped to the number of vectors given to build (faiss only warns below 39
  training vectors per cell).
- ``faiss.downcast_index`` returns a second Python handle: the factory's handle owns the C++
  index and must stay referenced, or its garbage collection frees the index under us.

Streaming: the cells and codebooks are trained on what ``build`` receives (a runbook's first
batch); ``insert`` encodes later vectors with them (``add_with_ids``), ``delete`` removes ids
from their inverted lists (``remove_ids``).
"""

import faiss
import numpy as np

from annbench.adapters.faiss_support import FaissAdapter


class FaissIVFPQFastScan(FaissAdapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.index = self.untrained_fast_scan(base, default_m=32)
        self.index.train(base)
        self.index.add_with_ids(base, ids.astype(np.int64))

    def set_query_params(self, nprobe: int = 1) -> None:
        self.index.nprobe = int(nprobe)

    def search_parameters(self, selector) -> faiss.SearchParametersIVF:
        return faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nprobe)
