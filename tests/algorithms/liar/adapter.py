import numpy as np

from annbench.adapters.protocol import Adapter


class Liar(Adapter):
    """Answers wrongly in the way its query parameter `lie` names."""

    def build(self, base, ids):
        self.n = len(base)

    def search(self, queries, k):
        nq = len(queries)
        ids = np.tile(np.arange(k), (nq, 1))
        distances = np.zeros((nq, k), dtype=np.float32)
        lie = self.query_params["lie"]
        if lie == "out_of_range":
            ids[0, 0] = self.n + 5
        elif lie == "repeated":
            ids[:, 1] = ids[:, 0]
        elif lie == "wrong_shape":
            return ids[:, :-1], distances[:, :-1]
        elif lie == "nan_distance":
            distances[0, 3] = np.nan
        elif lie == "descending":
            distances[:] = np.arange(k, 0, -1, dtype=np.float32)
        elif lie == "ties":  # equal distances are ascending (non-strictly): not a lie
            distances[:] = 1.0
        return ids, distances  # perfect_distances: well-formed ids, claimed distances all zero
