"""minilm-l6: all-MiniLM-L6-v2 in fp32 through sentence-transformers and torch.

The loading and batching are wordnet.py's (offline, shortest texts first, a progress bar per
chunk, torch threads set per call); this class gives them the Embedder shape.
"""

from __future__ import annotations

import numpy as np

from annbench.datasets import wordnet

NAME = "minilm-l6"


class SbertMiniLM:
    name = NAME
    dimension = wordnet.DIMENSION

    def __init__(self, version: str, *, threads: int) -> None:
        self._version = version
        self._threads = threads
        wordnet.load_model("cpu")  # cached (keyed as embed calls it): embed reuses it

    def version(self) -> str:
        return self._version

    def fit(self, documents: list[str]) -> None:
        pass

    def embed(self, texts: list[str], role: str, *, progress: bool | None = None) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dimension), np.float32)
        return wordnet.embed(list(texts), threads=self._threads, progress=progress)
