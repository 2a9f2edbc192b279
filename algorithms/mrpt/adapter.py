"""MRPT (multiple random projection trees, mrpt 2.0.4) in its autotuned form: trees are grown
once for a fixed k, and each recall target picks the fastest subset of trees, depth and vote
threshold that MRPT's own sample of test queries says reaches it.

Traps handled here:

* Autotuning fixes k at build (``autotune_k``): a search for another k is refused.
* The recall target is chosen per query point with ``subset``, which copies the chosen trees
  into a new index; only the current one is kept beside the tuned index.
* MRPT keeps a pointer to the base matrix, so the adapter holds its own C-contiguous copy.
* L2 only: euclidean, and angular on the unit vectors the harness hands over (L2 order is
  cosine order). Distances come back as L2, ascending.
* Answers shorter than k (few candidates pass the vote threshold at low recall targets) come
  back with id -1 and distance -1: the distance is replaced by inf.
* Crashes the adapter guards against (mrpt 2.0.4 aborts the process): autotuning on 100 base
  vectors or fewer (it samples 100 of them as test queries), ``autotune_k`` above the base
  size (both checked in ``build``), and a recall target outside [0, 1] (the spec's range).
* No seed reaches MRPT: its Python binding always passes the C++ seed 0, meaning
  std::random_device, and autotuning picks trees, depth and votes from measured query times.
  Two builds differ, so the spec declares ``repeatable: false`` with the measured spread.
"""

from __future__ import annotations

import mrpt
import numpy as np

from annbench.adapters.protocol import Adapter
from annbench.errors import AdapterError

SAMPLED_QUERIES = 100  # build_autotune_sample's default n_test


class MRPT(Adapter):
    metrics = ("euclidean", "angular")

    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.k = int(self.build_params.get("autotune_k", 10))
        if len(base) <= SAMPLED_QUERIES:
            raise AdapterError(
                f"mrpt: autotuning needs more than {SAMPLED_QUERIES} base vectors, got "
                f"{len(base)} (mrpt crashes on fewer)"
            )
        if self.k > len(base):
            raise AdapterError(f"mrpt: autotune_k {self.k} exceeds the {len(base)} base vectors")
        self.data = np.array(base, dtype=np.float32, order="C")  # MRPT keeps a pointer
        self.original = np.asarray(ids, dtype=np.int64).copy()
        self.tuned = mrpt.MRPTIndex(self.data)
        self.tuned.build_autotune_sample(None, self.k, n_test=SAMPLED_QUERIES)
        self.set_query_params()

    def set_query_params(self, target_recall: float = 0.9) -> None:
        self.index = self.tuned.subset(float(target_recall))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k != self.k:
            raise AdapterError(
                f"mrpt: the index was autotuned for k={self.k} (build parameter autotune_k); "
                f"cannot search for k={k}"
            )
        found, found_distances = self.index.ann(
            np.ascontiguousarray(queries, dtype=np.float32), return_distances=True
        )
        found = np.asarray(found, dtype=np.int64).reshape(len(queries), k)
        found_distances = np.asarray(found_distances, dtype=np.float32).reshape(len(queries), k)
        missing = found < 0
        ids = np.where(missing, -1, self.original[np.where(missing, 0, found)])
        distances = np.where(missing, np.inf, found_distances).astype(np.float32)
        return ids, distances
