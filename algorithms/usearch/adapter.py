"""USearch: keys are the original ids; l2sq for euclidean, ip otherwise (angular normalised).

No native filtered search, so the spec declares no ``filters``: USearch's C++, C, Rust and
Swift APIs take a predicate during graph traversal (``filtered_search``), but its Python
binding does not. In usearch 2.26.6 ``Index.search`` takes vectors, count, radius, threads,
exact, log, progress and dtype, the compiled ``search_many`` only queries, count, exact,
threads, progress and dtype (the binding instantiates the search with the C++
``dummy_predicate_t`` alone), and the package's own feature table marks "Filter predicates"
unsupported for Python. Filtered workloads therefore record this adapter as skipped ("cannot
filter"); ``strategy: postfilter`` measures it by over-fetching with ``search``.

Streaming: ``insert`` is ``add`` (the index grows as needed), ``delete`` is ``remove``, which
marks the nodes removed: searches skip them, their links stay (``compact`` is not asked for).
"""

import numpy as np
from usearch.index import Index

from annbench.adapters.protocol import Adapter


class USearchAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.index = Index(
            ndim=base.shape[1],
            metric="l2sq" if self.metric == "euclidean" else "ip",
            dtype="f32",
            connectivity=int(self.build_params.get("connectivity", 16)),
            expansion_add=int(self.build_params.get("expansion_add", 128)),
        )
        self.insert(base, ids)

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self.index.add(ids.astype(np.uint64), vectors, threads=self.build_threads or 0)

    def delete(self, ids: np.ndarray) -> None:
        self.index.remove(ids.astype(np.uint64))

    def set_query_params(self, expansion_search: int = 64) -> None:
        self.index.expansion_search = int(expansion_search)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        matches = self.index.search(queries, k, threads=self.search_threads or 0)
        keys = np.asarray(matches.keys, dtype=np.int64).reshape(len(queries), -1)
        scores = np.asarray(matches.distances, dtype=np.float32).reshape(len(queries), -1)
        # one query gets Matches, cut to what was found and without counts; more, BatchMatches
        counts = getattr(matches, "counts", [keys.shape[1]])
        found = np.asarray(counts).reshape(-1, 1) > np.arange(keys.shape[1])
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        ids[:, : keys.shape[1]] = np.where(found, keys, -1)
        distances[:, : keys.shape[1]] = np.where(found, scores, np.inf)
        return ids, distances

    def memory_bytes(self) -> int:
        return int(self.index.memory_usage)
