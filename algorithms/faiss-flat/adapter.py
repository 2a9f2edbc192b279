"""faiss IndexFlat: exact search, the reference every approximate index is measured against.

Streaming: ``insert`` appends with ``add_with_ids``; ``delete`` is ``remove_ids`` on the
IndexIDMap, which removes the rows from the flat index and its id map.
"""

import faiss
import numpy as np

from annbench.adapters.faiss_support import FaissAdapter


class FaissFlat(FaissAdapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        dim = base.shape[1]
        flat = faiss.IndexFlatL2(dim) if self.metric == "euclidean" else faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIDMap(flat)
        self.index.add_with_ids(base, ids.astype(np.int64))
