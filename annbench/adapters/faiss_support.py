"""What every faiss adapter shares: the metric mapping, answering in the protocol's terms
(distances where smaller is closer: faiss's inner products are negated), and the index size."""

from __future__ import annotations

import numpy as np

from annbench.adapters.protocol import Adapter


class FaissAdapter(Adapter):
    """Subclasses set ``self.index`` (answering with original ids) in ``build``."""

    @property
    def faiss_metric(self) -> int:
        import faiss

        return faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.index.search(queries, k)
        return ids, scores if self.metric == "euclidean" else -scores

    def memory_bytes(self) -> int:
        import faiss

        return len(faiss.serialize_index(self.index))
