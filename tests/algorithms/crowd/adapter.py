"""Test adapter for concurrent clients: exact search in numpy, inserts safe beside searches.
Build parameter ``fail`` makes its clients misbehave: ``crash`` (a client process kills
itself), ``hang`` (a client never answers; it writes its pid to $ANNBENCH_TEST_PIDS first),
``refuse`` (``client()`` raises)."""

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from annbench.adapters.protocol import Adapter


class Crowd(Adapter):
    def build(self, base, ids):
        self.base, self.ids, self.owner = base, ids, os.getpid()
        self.lock = threading.Lock()

    def insert(self, vectors, ids):
        with self.lock:
            self.base = np.concatenate([self.base, vectors])
            self.ids = np.concatenate([self.ids, ids])

    def client(self):
        if self.build_params["fail"] == "refuse":
            raise RuntimeError("no more connections")
        return self

    def search(self, queries, k):
        fail = self.build_params["fail"]
        in_client = os.getpid() != self.owner or threading.current_thread() is not (
            threading.main_thread()
        )
        if in_client and fail == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if in_client and fail == "hang":
            folder = os.environ.get("ANNBENCH_TEST_PIDS")
            if folder:
                Path(folder, str(os.getpid())).touch()
            time.sleep(3600)
        with self.lock:  # inserts may run while clients search (ingestion)
            base, ids = self.base, self.ids
        distances = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(axis=-1)
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return ids[order], np.take_along_axis(distances, order, axis=1)
