"""NGT (Yahoo Japan's neighbourhood graph and tree) through ngtpy: an ANNG graph built by
incremental insertion, searched with NGT's epsilon-expanded graph walk.

Traps handled here:

* NGT keeps its index on disk: it lives in a temporary directory that ``close`` removes.
* NGT numbers objects itself (from 0 with ``zero_based_numbering``) and hands a removed
  object's number to the next object inserted, so internal numbers are mapped to original ids
  in both directions (an int64 array one way, a dict the other), kept in step with every
  insert and remove. ``insert`` therefore adds one object at a time (``Index.insert`` returns
  the number given; ``batch_insert`` does not) and then links them with ``build_index``.
* Metrics: euclidean and angular (unit vectors arrive normalised, so L2 order is cosine order,
  and a zero vector cannot trip NGT's cosine normalisation) use NGT's ``L2``; ip uses
  ``Inner Product``, which NGT answers on the graph by lifting every object to the largest norm
  seen when the graph was built. A vector inserted later with a larger norm breaks that lift
  (recall fell to 0 when we tried), so ``insert`` refuses one under ip.
* Queries: see annbench/adapters/ngt_support.py (``batch_search``, shared with ngt-onng).
* NGT takes no seed; an ANNG built on one thread in a fixed order repeats exactly.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from annbench.adapters.ngt_support import NGTAdapter
from annbench.errors import AdapterError


class NGT(NGTAdapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="annbench-ngt-")
        path = os.path.join(self.directory.name, "anng")
        self.index = self.create_anng(path, base, creation=10, search=40)
        # a fresh index numbers a batch 0..n-1 in order
        self.original = np.full(max(self.capacity or 0, len(base)), -1, dtype=np.int64)
        self.original[: len(base)] = ids
        self.internal = dict(zip(ids.tolist(), range(len(base))))
        self.max_norm = float(np.linalg.norm(base, axis=1).max()) if len(base) else 0.0
        self.set_query_params()

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if self.metric == "ip" and len(vectors):
            largest = float(np.linalg.norm(vectors, axis=1).max())
            if largest > self.max_norm * (1 + 1e-6):
                raise AdapterError(
                    f"ngt: an inserted vector's norm {largest:.4g} exceeds the largest built "
                    f"norm {self.max_norm:.4g}; NGT's inner product cannot take it"
                )
        for vector, original in zip(vectors, ids.tolist()):
            number = int(self.index.insert(vector))
            if number >= len(self.original):
                grown = np.full(max(2 * len(self.original), number + 1), -1, dtype=np.int64)
                grown[: len(self.original)] = self.original
                self.original = grown
            self.original[number] = original
            self.internal[original] = number
        self.index.build_index(num_threads=self.threads)

    def delete(self, ids: np.ndarray) -> None:
        for original in ids.tolist():
            number = self.internal.pop(original)
            self.index.remove(number)
            self.original[number] = -1
