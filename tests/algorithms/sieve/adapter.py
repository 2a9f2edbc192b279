import numpy as np

from annbench.adapters.protocol import Adapter


class Sieve(Adapter):
    """Exact, and deaf to filters: ``filtered_search`` answers as if there were none."""

    def build(self, base, ids):
        self.base = np.asarray(base, dtype=np.float64)
        self.ids = np.asarray(ids, dtype=np.int64)

    def search(self, queries, k):
        q = np.asarray(queries, dtype=np.float64)
        distances = ((q[:, None, :] - self.base[None, :, :]) ** 2).sum(axis=2)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return self.ids[nearest], np.sqrt(np.take_along_axis(distances, nearest, axis=1))

    def filtered_search(self, queries, k, filters):
        return self.search(queries, k)
