import numpy as np

from annbench.adapters.protocol import Adapter


class Forgetful(Adapter):
    """Exact, takes inserts, and forgets to delete: ``delete`` does nothing."""

    def build(self, base, ids):
        self.base = np.asarray(base, dtype=np.float64)
        self.ids = np.asarray(ids, dtype=np.int64)

    def insert(self, vectors, ids):
        self.base = np.concatenate([self.base, np.asarray(vectors, dtype=np.float64)])
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])

    def delete(self, ids):
        pass

    def search(self, queries, k):
        q = np.asarray(queries, dtype=np.float64)
        distances = ((q[:, None, :] - self.base[None, :, :]) ** 2).sum(axis=2)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return self.ids[nearest], np.sqrt(np.take_along_axis(distances, nearest, axis=1))
