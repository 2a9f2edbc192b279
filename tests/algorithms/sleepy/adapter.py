import time

import numpy as np

from annbench.adapters.protocol import Adapter


class Sleepy(Adapter):
    """Sleeps through its build; answers with the first k ids."""

    def build(self, base, ids):
        time.sleep(float(self.build_params["seconds"]))

    def search(self, queries, k):
        ids = np.tile(np.arange(k), (len(queries), 1))
        return ids, np.zeros(ids.shape, dtype=np.float32)
