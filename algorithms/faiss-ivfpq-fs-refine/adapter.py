"""faiss IndexRefineFlat around an IndexIVFPQFastScan (``IVF{nlist},PQ{m}x4fs``): the
fast-scan index proposes ``k_factor * k`` candidates from ``nprobe`` cells, re-ranked with the
exact vectors the refine index keeps.

Traps (faiss 1.15):
- the refine index must wrap the fast-scan index before anything is added: wrapping a filled
  index throws (``base_index->ntotal == refine_index->ntotal``).
- IndexRefine has no ``add_with_ids`` nor ``remove_ids``, and an IndexIDMap around it does
  not translate a selector nested in ``base_index_params`` (it filtered on external ids as if
  they were positions). So ids are kept here: faiss sees positions, ``self.ids`` maps them to
  the original ids, and a filter's selector is a bitmap over positions. No ``delete``.
- ``m`` must divide the dimension (clamped to it when larger); ``nlist`` is clamped to the
  number of vectors given to build; the factory's handle owns the C++ index and is kept (as in
  faiss-ivfpq-fs).

Streaming: ``insert`` encodes later vectors with the codebooks trained at build and appends
their positions.
"""

import faiss
import numpy as np

from annbench.adapters.faiss_support import FaissAdapter


class FaissIVFPQFastScanRefine(FaissAdapter):
    nprobe, k_factor = 1, 1

    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.fast_scan = self.untrained_fast_scan(base, default_m=16)
        self.index = faiss.IndexRefineFlat(self.fast_scan)
        self.index.train(base)
        self.ids = np.empty(0, dtype=np.int64)
        self.insert(base, ids)

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self.index.add(vectors)
        self.ids = np.concatenate([self.ids, ids.astype(np.int64)])

    def set_query_params(self, nprobe: int = 1, k_factor: int = 1) -> None:
        self.nprobe, self.k_factor = int(nprobe), int(k_factor)

    def search_parameters(self, selector=None) -> faiss.IndexRefineSearchParameters:
        """k_factor for the re-ranking, nprobe and the selector (over positions) for the
        fast-scan index (faiss's parameter objects keep their sub-objects alive)."""
        ivf = faiss.SearchParametersIVF(nprobe=self.nprobe, sel=selector)
        return faiss.IndexRefineSearchParameters(k_factor=self.k_factor, base_index_params=ivf)

    def refined(self, queries: np.ndarray, k: int, selector=None) -> tuple[np.ndarray, np.ndarray]:
        """faiss's answer for ``queries``: original ids and distances (padding: -1, inf)."""
        scores, positions = self.index.search(queries, k, params=self.search_parameters(selector))
        ids = np.where(positions >= 0, self.ids[positions], -1)
        return ids, self.distances(positions, scores)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.refined(queries, k)

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """A bitmap selector over positions per group of queries sharing a filter."""
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for group in filters.groups():
            passing = filters.mask(self.attributes, int(group[0]))[self.ids]
            bitmap = np.packbits(passing, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(bitmap) * 8, faiss.swig_ptr(bitmap))
            ids[group], distances[group] = self.refined(queries[group], k, selector)
        return ids, distances

    def memory_bytes(self) -> int:
        return super().memory_bytes() + self.ids.nbytes
