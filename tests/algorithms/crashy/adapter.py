import os
import signal

from annbench.adapters.protocol import Adapter


class Crashy(Adapter):
    def build(self, base, ids):
        if self.build_params["how"] == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        raise RuntimeError("index construction exploded")

    def search(self, queries, k):
        raise AssertionError("never reached")
