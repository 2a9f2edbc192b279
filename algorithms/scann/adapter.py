"""ScaNN: a k-means tree over the base, anisotropic asymmetric hashing (AH) to score the points
of the leaves searched, and an exact float32 reorder of the best candidates.

Configured the way ScaNN's documentation advises: ``num_leaves`` about sqrt(n), AH with
``dims_per_block: 2`` and an anisotropic threshold of 0.2, reordering on. Metrics: euclidean
is ``squared_l2``; angular (unit vectors, spherical k-means) and ip are ``dot_product``, whose
similarities are negated. No filters: the restrict-token machinery is not in the Python API.

Traps, all handled here:

- Leaves. ScaNN trains as many leaves as asked, however small the data: 1000 leaves over
  2000 vectors came out 176 empty and the rest 1 to 7 points, far below its own
  ``min_cluster_size`` of 50, and ``leaves_to_search`` then means little. So ``num_leaves`` is
  clamped to ``len(base) // 50`` (at least 1): 2000 vectors get at most 40 leaves, 10 000 at
  most 200, a million the sqrt(n) = 1000 asked for. The k-means sample is the whole base unless
  the optional ``training_sample_size`` caps it.
- Anisotropic threshold. It is absolute, in units of the inner product, and ScaNN applies it
  only where it weighs the parallel error above the orthogonal one, (d - 1) t^2 / (|x|^2 -
  t^2) > 1: 0.2 shapes unit vectors of 32 dimensions, but changes nothing on 16-dimensional
  unit vectors or on un-normalised blobs (checked: identical codes). 0 turns it off (NaN).
- Seeds. The builder takes none, so the config text is edited: ``clustering_seed`` of the tree,
  ``clustering_seed`` and ``sampling_seed`` of AH. Even seeded, the tree's default random
  centre initialisation gives a different tree from one single-threaded build to the next, so
  the tree uses k-means++ initialisation (deterministic under its seed).
- Answers. ``search_batched`` pads a short answer with position 0 and distance NaN; NaN marks
  the padding. The wrapper maps docids with a Python lookup per result, so searches go through
  the compiled searcher (positions) and a numpy array of ids.
- Streaming: ``upsert`` (insert) and ``delete`` need the wrapper's docids. A runbook
  (``capacity`` set) builds with them and reserves ``capacity``; a plain build gets them on its
  first change. ``delete`` moves the last point into each hole, so the id array is re-read
  from the wrapper's docid list after every change.
- AH trains 16 centres per block: fewer than 16 vectors cannot be built (AdapterError).
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import scann
from google.protobuf import text_format
from scann.proto import scann_pb2

from annbench.adapters.protocol import Adapter
from annbench.errors import AdapterError

MIN_PARTITION_SIZE = 50  # ScaNN's default min_cluster_size of the tree
AH_CENTERS = 16  # lut16: centres per block, so the fewest vectors AH can train on
PARALLEL_BATCH = 256  # queries per task of search_batched_parallel (ScaNN's default)


class ScaNN(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        if len(base) < AH_CENTERS:
            raise AdapterError(
                f"scann: asymmetric hashing trains {AH_CENTERS} centres per block and needs at "
                f"least {AH_CENTERS} vectors, got {len(base)}"
            )
        config = self._config(base)
        threads = self.build_threads or 0  # 0: ScaNN's default
        streaming = self.capacity is not None
        try:
            self.searcher = scann.scann_ops_pybind.create_searcher(
                base, config, threads, docids=ids.tolist() if streaming else None
            )
        except RuntimeError as exc:
            raise AdapterError(f"scann: {exc}") from exc
        if streaming:
            self.searcher.reserve(int(self.capacity))
        self.ids = np.array(ids, dtype=np.int64)

    @property
    def distance(self) -> str:
        return "squared_l2" if self.metric == "euclidean" else "dot_product"

    def num_leaves(self, n: int) -> int:
        """The leaves asked for, at most one per ``MIN_PARTITION_SIZE`` vectors."""
        return max(1, min(int(self.build_params.get("num_leaves", 1000)), n // MIN_PARTITION_SIZE))

    def _config(self, base: np.ndarray) -> str:
        """The builder's config text, seeded (see the module docstring)."""
        n = len(base)
        sample = min(n, int(self.build_params.get("training_sample_size", n)))
        threshold = float(self.build_params.get("avq_threshold", 0.2))
        leaves = self.num_leaves(n)
        builder = (
            scann.scann_ops_pybind.builder(base, 10, self.distance)
            .tree(
                leaves,
                leaves,
                training_sample_size=sample,
                spherical=self.metric == "angular",
                random_init=False,
            )
            .score_ah(
                int(self.build_params.get("dims_per_block", 2)),
                # 0 is our spelling of ScaNN's NaN: plain (isotropic) quantisation
                anisotropic_quantization_threshold=threshold or math.nan,
            )
            # how many candidates are reordered is set by each search (query grid)
            .reorder(100)
        )
        config = text_format.Parse(builder.create_config(), scann_pb2.ScannConfig())
        seed = self.seed % 2**31  # the proto fields are int32
        config.partitioning.clustering_seed = seed
        config.hash.asymmetric_hash.clustering_seed = seed
        config.hash.asymmetric_hash.sampling_seed = seed
        return text_format.MessageToString(config)

    def _tracked(self):
        """The wrapper, holding docids: upsert and delete need them. A searcher built without
        (no ``capacity``: not a runbook) gets them on its first change."""
        if self.searcher.docids is None:
            wrapper = scann.scann_ops_pybind.ScannSearcher
            self.searcher = wrapper(self.searcher.searcher, docids=self.ids.tolist())
        return self.searcher

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        batch = 1 if self.build_threads == 1 else PARALLEL_BATCH  # >1 uses ScaNN's pool
        try:
            self._tracked().upsert(ids.tolist(), vectors, batch_size=batch)
        except (RuntimeError, ValueError) as exc:
            raise AdapterError(f"scann: {exc}") from exc
        self.ids = np.array(self.searcher.docids, dtype=np.int64)

    def delete(self, ids: np.ndarray) -> None:
        try:
            self._tracked().delete(ids.tolist())
        except (RuntimeError, KeyError) as exc:
            raise AdapterError(f"scann: {exc}") from exc
        self.ids = np.array(self.searcher.docids, dtype=np.int64)

    def set_query_params(self, leaves_to_search: int = 1, reorder: int = 100) -> None:
        self.query_params = {"leaves_to_search": leaves_to_search, "reorder": reorder}

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        leaves = int(self.query_params.get("leaves_to_search", 1))
        reorder = int(self.query_params.get("reorder", 100))
        parallel = self.search_threads != 1
        if parallel:  # None: every CPU this process may use, not a count left by an earlier point
            self.searcher.set_num_threads(self.search_threads or len(os.sched_getaffinity(0)))
        positions, scores = self.searcher.searcher.search_batched(
            queries, k, reorder, leaves, parallel, PARALLEL_BATCH if parallel else 0
        )
        found = ~np.isnan(scores)
        ids = np.where(found, self.ids[positions], -1)
        distances = scores if self.metric == "euclidean" else -scores
        return ids, np.where(found, distances, np.inf).astype(np.float32)

    def memory_bytes(self) -> int:
        """The size of the searcher's saved assets (ScaNN reports no size of its own)."""
        with tempfile.TemporaryDirectory(prefix="annbench-scann-") as folder:
            self.searcher.searcher.serialize(folder, False)
            return sum(entry.stat().st_size for entry in os.scandir(folder))
