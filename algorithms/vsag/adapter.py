"""VSAG (pyvsag 0.18.5): its HNSW index, or HGraph (VSAG's own graph index) as a build choice.

The Python binding offers build and one-query ``knn_search`` only: no add, remove or filter,
so the adapter declares no streaming or filter capability. Queries run one by one in a Python
loop that holds the GIL (``search_threads`` cannot help); concurrent clients are forked
processes.

Metrics: euclidean is VSAG's ``l2`` (it reports squared distances); angular (unit vectors) and
ip are its ``ip``, reported as 1 - inner product. Both ascend, so they pass through unchanged.

Traps of this binding, measured on 0.18.5:

* ``knn_search`` returns ``(ids, distances)``, although its docstring says ``(distances,
  ids)``; the pair is told apart by dtype (ids are int64), so either order works.
* It always hands back k slots and copies k entries from the library's answer, however few the
  library found: past the real answers come uninitialised memory (ids like 140207418449248),
  and a failed search (ef_search 0, or above 1000) returns such garbage throughout without an
  error. So ef_search is bounded (in the spec and in set_query_params), k is capped at the
  number of indexed vectors (the rest padded), and each answer is padded from its first id
  that was never built onward.
* Parameters out of VSAG's range abort the process from the Index constructor instead of
  raising. Its rules (both indexes): 4 <= max_degree <= max(dim, 128) and max_degree <=
  ef_construction <= max(1000, 100 * max_degree); they are checked here first and refused with
  AdapterError, since the spec cannot express rules that depend on dim or on each other.
* Threads: HNSW takes no thread count (measured: its build uses one core); HGraph takes
  ``build_thread_count``, set from ``build_threads`` (VSAG's default, when None, is 100
  threads). libvsag also links OpenMP, which the worker caps around the build anyway.
* Seeding: VSAG takes no seed, but each index starts its level generator from a fixed seed,
  so two builds of the same data in the same order are identical; ``self.seed`` changes
  nothing.
* ``base_quantization_type`` and ``use_reorder`` belong to hgraph and are ignored by hnsw (the
  spec's optional parameters): HGraph stores its vectors as fp32 by default here, or quantised
  (sq8, fp16, ...), then reranks with fp32 codes when ``use_reorder`` is true.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyvsag

from annbench.adapters.answers import found_prefix, pad_after
from annbench.adapters.protocol import Adapter
from annbench.errors import AdapterError

METRICS = {"euclidean": "l2", "angular": "ip", "ip": "ip"}  # angular arrives unit-normalised
INDEXES = ("hnsw", "hgraph")
EF_SEARCH_LIMIT = 1000
QUANTIZATIONS = ("fp32", "sq8", "fp16", "bf16", "sq8_uniform", "sq4_uniform")


class Vsag(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.kind = str(self.build_params.get("index", "hnsw"))
        if self.kind not in INDEXES:
            raise AdapterError(f"vsag: index {self.kind!r} is not one of {', '.join(INDEXES)}")
        count, dim = base.shape
        index_params = self._index_params(dim)
        key = "hnsw" if self.kind == "hnsw" else "index_param"
        config = {"dtype": "float32", "metric_type": METRICS[self.metric], "dim": dim}
        index = pyvsag.Index(self.kind, json.dumps({**config, key: index_params}))
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        index.build(
            vectors=np.ascontiguousarray(base, dtype=np.float32),
            ids=ids,
            num_elements=count,
            dim=dim,
        )
        self.index = index
        self.count = count
        self.known_ids = np.sort(ids)  # to tell real answers from the binding's garbage
        self.set_query_params()

    def _index_params(self, dim: int) -> dict[str, Any]:
        """The index's JSON parameters, checked against VSAG's rules (which abort otherwise)."""
        max_degree = int(self.build_params.get("max_degree", 16))
        ef_construction = int(self.build_params.get("ef_construction", 200))
        degree_limit = max(dim, 128)
        if not 4 <= max_degree <= degree_limit:
            raise AdapterError(
                f"vsag: max_degree {max_degree} must lie in [4, {degree_limit}] "
                f"(VSAG's limit for dimension {dim})"
            )
        construction_limit = max(1000, 100 * max_degree)
        if not max_degree <= ef_construction <= construction_limit:
            raise AdapterError(
                f"vsag: ef_construction {ef_construction} must lie in [max_degree "
                f"{max_degree}, {construction_limit}] (VSAG's rule)"
            )
        params: dict[str, Any] = {"max_degree": max_degree, "ef_construction": ef_construction}
        if self.kind == "hgraph":
            quantization = str(self.build_params.get("base_quantization_type", "fp32"))
            if quantization not in QUANTIZATIONS:
                raise AdapterError(
                    f"vsag: base_quantization_type {quantization!r} is not one of "
                    f"{', '.join(QUANTIZATIONS)}"
                )
            params["base_quantization_type"] = quantization
            if self.build_params.get("use_reorder", False):
                params.update(use_reorder=True, precise_quantization_type="fp32")
            if self.build_threads is not None:
                params["build_thread_count"] = int(self.build_threads)
        return params

    def set_query_params(self, ef_search: int = 10) -> None:
        if not 1 <= int(ef_search) <= EF_SEARCH_LIMIT:  # else VSAG answers garbage
            raise AdapterError(f"vsag: ef_search {ef_search} must lie in [1, {EF_SEARCH_LIMIT}]")
        self.search_json = json.dumps({self.kind: {"ef_search": int(ef_search)}})

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        asked = min(k, self.count)  # more slots than vectors would be garbage
        if asked == 0:
            return ids, distances
        for row, query in enumerate(queries):
            first, second = self.index.knn_search(
                vector=query, k=asked, parameters=self.search_json
            )
            if first.dtype.kind == "f":  # the docstring's order, should a release adopt it
                first, second = second, first
            ids[row, :asked] = first
            distances[row, :asked] = second
        self._pad_garbage(ids, distances, asked)
        return ids, distances

    def _pad_garbage(self, ids: np.ndarray, distances: np.ndarray, asked: int) -> None:
        """Pad every row from its first entry that cannot be an answer onward (an id never
        built, a repeat, a distance that descends: see the module)."""
        found = ids[:, :asked]
        where = np.minimum(np.searchsorted(self.known_ids, found), len(self.known_ids) - 1)
        known = self.known_ids[where] == found
        pad_after(ids, distances, found_prefix(found, distances[:, :asked], known))
