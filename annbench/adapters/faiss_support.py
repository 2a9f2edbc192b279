"""What every faiss adapter shares: the metric mapping, answering in the protocol's terms
(distances where smaller is closer: faiss's inner products are negated), and the index size."""

from __future__ import annotations

import numpy as np

from annbench.adapters.protocol import Adapter


class FaissAdapter(Adapter):
    """Subclasses set ``self.index`` (answering with original ids) in ``build``."""

    #: True where the index scores by L2 distance whatever the metric (angular searched as L2
    #: on the unit vectors, as HNSW-PQ must); else inner products are negated
    scores_are_distances = False

    def distances(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """faiss's scores as the protocol's distances: ascending, inf where the id is -1
        (some indexes pad with a finite score)."""
        if not (self.metric == "euclidean" or self.scores_are_distances):
            scores = -scores
        return np.where(ids >= 0, scores, np.inf)

    @property
    def faiss_metric(self) -> int:
        import faiss

        return faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT

    def untrained_fast_scan(self, base: np.ndarray, default_m: int):
        """A seeded, untrained ``IVF{nlist},PQ{m}x4fs`` index (4-bit PQ fast-scan) for
        ``base``: ``m`` clamped to the dimension and refused unless it divides it, ``nlist``
        clamped to the vectors given. The factory's handle, which owns the C++ index, is kept
        in ``self.made`` (the downcast handle returned does not own it)."""
        import faiss

        from annbench.errors import AdapterError

        count, dim = base.shape
        m = min(int(self.build_params.get("m", default_m)), dim)
        if dim % m:
            raise AdapterError(f"m={m} sub-quantisers do not divide dimension {dim}")
        if count < 16:
            raise AdapterError(f"4-bit codes train 16 centroids: {count} vectors given")
        nlist = min(int(self.build_params.get("nlist", 256)), count)
        self.made = faiss.index_factory(dim, f"IVF{nlist},PQ{m}x4fs", self.faiss_metric)
        index = faiss.downcast_index(self.made)
        index.cp.seed = self.seed
        index.pq.cp.seed = self.seed
        return index

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add vectors under their original ids (declared by the spec's ``supports``)."""
        self.index.add_with_ids(vectors, ids.astype(np.int64))

    def delete(self, ids: np.ndarray) -> None:
        """Remove ids (indexes whose faiss class implements ``remove_ids``)."""
        import faiss

        self.index.remove_ids(faiss.IDSelectorBatch(ids.astype(np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.index.search(queries, k)
        return ids, self.distances(ids, scores)

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """faiss's own filtering: a bitmap selector over the ids passing each filter, handed
        to the index in its search parameters (queries sharing a filter share one call)."""
        import faiss

        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), np.inf, dtype=np.float32)
        for group in filters.groups():
            bitmap = np.packbits(filters.mask(self.attributes, int(group[0])), bitorder="little")
            selector = faiss.IDSelectorBitmap(len(bitmap) * 8, faiss.swig_ptr(bitmap))
            found_scores, found = self.index.search(
                queries[group], k, params=self.search_parameters(selector)
            )
            ids[group] = found
            scores[group] = self.distances(found, found_scores)
        return ids, scores

    def search_parameters(self, selector):
        """The index's search parameters carrying ``selector`` (and the current query
        parameters, which the parameters object would otherwise reset)."""
        import faiss

        return faiss.SearchParameters(sel=selector)

    def memory_bytes(self) -> int:
        """The index's serialised size, counted as faiss writes it (no copy is kept)."""
        import faiss

        from annbench.adapters.sizes import counted_bytes

        def save(file) -> None:
            writer = faiss.PyCallbackIOWriter(file.write)
            faiss.write_index(self.index, writer)
            del writer  # flushes the writer's buffer into the counter

        return counted_bytes(save)
