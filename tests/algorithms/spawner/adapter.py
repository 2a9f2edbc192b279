import subprocess
import sys
import time

import numpy as np

from annbench.adapters.protocol import Adapter


class Spawner(Adapter):
    """Starts a child that sleeps for an hour, as a library's helper server would (in its own
    session when `detach`, so killing the worker's process group misses it), holding the
    worker's standard output and error; then sleeps `seconds` and answers by brute force."""

    def build(self, base, ids):
        subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(3600)"],
            start_new_session=bool(self.build_params["detach"]),
        )
        time.sleep(float(self.build_params["seconds"]))
        self.base = np.asarray(base, dtype=np.float64)
        self.ids = np.asarray(ids, dtype=np.int64)

    def search(self, queries, k):
        q = np.asarray(queries, dtype=np.float64)
        distances = ((q[:, None, :] - self.base[None, :, :]) ** 2).sum(axis=2)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return self.ids[nearest], np.sqrt(np.take_along_axis(distances, nearest, axis=1))
