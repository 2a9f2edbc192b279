"""The no-op adapter: no index at all. ``build`` keeps only the number of vectors; ``search``
answers every query at once with ids 0..k-1 (clipped to that number, padded with -1) at
distance 0. Its recall is whatever those fixed ids happen to hit, near zero: it is not an
index but the harness's own ceiling, the most queries per second annbench can measure here,
in any workload. The clients workload runs the same kind of answerer beside every level
(``ceiling_qps``).

The answer for a given (number of queries, k) is made once and handed out again, read-only,
so that a search costs the harness's call and nothing more.
"""

import numpy as np

from annbench.adapters.protocol import Adapter


class NoOp(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.n = len(base)
        self.answer = (np.empty((0, 0), np.int64), np.empty((0, 0), np.float32))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.answer[0].shape != (len(queries), k):
            found = min(k, self.n)
            ids = np.full((len(queries), k), -1, dtype=np.int64)
            ids[:, :found] = np.arange(found)
            distances = np.zeros((len(queries), k), dtype=np.float32)
            ids.flags.writeable = distances.flags.writeable = False
            self.answer = (ids, distances)
        return self.answer
