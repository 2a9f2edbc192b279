"""Voyager: vectors added under their original ids.

Streaming: ``insert`` is ``add_items`` (the index resizes itself past ``max_elements``, which
is ``capacity`` when the worker gives one), ``delete`` is ``mark_deleted`` per id: queries skip
the node, which keeps its place in the graph. Voyager refuses a query for more neighbours than
live vectors, so once deletes leave fewer than k, ``search`` asks for what is left and pads.
"""

import numpy as np
from voyager import Index, Space

from annbench.adapters.protocol import Adapter

SPACES = {"euclidean": Space.Euclidean, "angular": Space.InnerProduct, "ip": Space.InnerProduct}


class VoyagerAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.index = Index(
            SPACES[self.metric],
            num_dimensions=base.shape[1],
            M=int(self.build_params.get("M", 16)),
            ef_construction=int(self.build_params.get("ef_construction", 128)),
            random_seed=self.seed + 1,
            max_elements=self.capacity or len(base),
        )
        self.insert(base, ids)
        self.deleted = 0

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self.index.add_items(vectors, ids=ids.tolist(), num_threads=self.build_threads or -1)

    def delete(self, ids: np.ndarray) -> None:
        for vector_id in ids.tolist():
            self.index.mark_deleted(vector_id)
        self.deleted += len(ids)

    def memory_bytes(self) -> int:
        """The index as voyager saves it, counted as it is written (no copy is kept)."""
        from annbench.adapters.sizes import counted_bytes

        return counted_bytes(self.index.save)

    def set_query_params(self, ef: int = 10) -> None:
        self.ef = int(ef)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        live = min(k, len(self.index) - self.deleted)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        if live > 0:
            ids[:, :live], distances[:, :live] = self.index.query(
                queries, k=live, num_threads=self.search_threads or -1, query_ef=max(self.ef, k)
            )
        return ids, distances
