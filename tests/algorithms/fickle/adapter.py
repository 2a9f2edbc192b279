import numpy as np

from annbench.adapters.protocol import Adapter


class Fickle(Adapter):
    """Answers exactly over the base less a random 2% of it, drawn without a seed, so no two
    builds agree; its spec does not admit that (it keeps the default `repeatable: true`)."""

    def build(self, base, ids):
        kept = np.random.default_rng().random(len(ids)) >= 0.02
        self.base = np.asarray(base, dtype=np.float64)[kept]
        self.ids = np.asarray(ids, dtype=np.int64)[kept]

    def search(self, queries, k):
        q = np.asarray(queries, dtype=np.float64)
        distances = ((q[:, None, :] - self.base[None, :, :]) ** 2).sum(axis=2)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return self.ids[nearest], np.sqrt(np.take_along_axis(distances, nearest, axis=1))
