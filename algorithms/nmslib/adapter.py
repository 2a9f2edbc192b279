"""nmslib (Non-Metric Space Library) 2.1.2: an HNSW graph, or SW-graph as a build choice.

Spaces: euclidean is nmslib's ``l2``, angular its ``cosinesimil`` (1 - cosine) and ip its
``negdotprod`` (minus the inner product), so every distance ascends as it comes back. HNSW's
``l2`` reports squared distances, SW-graph's plain ones; both ascend.

Traps, in the order they bite:

* The PyPI wheel is a generic x86-64 build without SSE4/AVX, and on import its C++ code
  prints a notice saying so to standard error (file descriptor 2, so Python's ``sys.stderr``
  cannot catch it). The worker's results travel through a result file, never through its
  output, so the notice cannot corrupt them; it would only clutter the worker's log tail,
  which is the reason shown for a crash. The notice is therefore caught at the descriptor
  level around the import and dropped; anything else printed then is passed on.
* Ids are ``int`` (32 bits) inside nmslib: an id of 2**31 or more is refused with
  AdapterError (as is a negative one, since -1 is the padding id).
* ``knnQueryBatch`` returns one ``(ids, distances)`` pair per query, shorter than k when the
  graph search finds fewer: the rows are padded with -1 and inf.
* nmslib has no seed. HNSW draws node levels from a per-thread generator whose seed is fixed
  and which is never reset, so a second build in the same thread continues its sequence and
  builds a different graph. Each build runs in a thread of its own: every build of the same
  data in the same order is identical, whatever ``self.seed`` says (the seed cannot reach
  the library). With ``indexThreadQty`` > 1 nmslib's own threads interleave freely.
* nmslib refuses a parameter its method does not know. Parameters that belong to the other
  method are ignored, not refused, because the spec's default grid always carries them:
  ``M`` and ``post`` apply to hnsw only, ``NN`` to sw-graph only; ``efConstruction`` and
  ``efSearch`` to both.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from typing import Any

import numpy as np

from annbench.adapters.protocol import Adapter
from annbench.errors import AdapterError

# the three lines the no-SIMD wheel prints when it is imported on a CPU with SSE4/AVX
_NOTICE = (
    "Your CPU supports instructions that this binary was not compiled to use",
    "For maximum performance, you can install NMSLIB from sources",
    "pip install --no-binary :all: nmslib",
)


def _import_without_notice():
    """``import nmslib`` with its no-SIMD notice dropped from file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as caught:
            os.dup2(caught.fileno(), 2)
            try:
                import nmslib
            finally:
                os.dup2(saved, 2)
            caught.seek(0)
            printed = caught.read().decode(errors="replace").splitlines()
    finally:
        os.close(saved)
    rest = [line for line in printed if not line.strip().startswith(_NOTICE)]
    if rest:
        print("\n".join(rest), file=sys.stderr)
    return nmslib


nmslib = _import_without_notice()

SPACES = {"euclidean": "l2", "angular": "cosinesimil", "ip": "negdotprod"}
METHODS = ("hnsw", "sw-graph")
ID_LIMIT = 2**31  # nmslib's ids are 32-bit ints


class Nmslib(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        method = str(self.build_params.get("method", "hnsw"))
        if method not in METHODS:
            raise AdapterError(f"nmslib: method {method!r} is not one of {', '.join(METHODS)}")
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= ID_LIMIT):
            raise AdapterError(
                f"nmslib stores ids as 32-bit ints: ids must lie in [0, {ID_LIMIT}), "
                f"got {int(ids.min())}..{int(ids.max())}"
            )
        params = self._index_params(method)
        index = nmslib.init(
            method=method,
            space=SPACES[self.metric],
            data_type=nmslib.DataType.DENSE_VECTOR,
            dtype=nmslib.DistType.FLOAT,
        )
        index.addDataPointBatch(base, ids.astype(np.int32))
        _in_own_thread(lambda: index.createIndex(params, print_progress=False))
        self.index = index

    def _index_params(self, method: str) -> dict[str, Any]:
        """createIndex's parameters for ``method``; those of the other method are left out."""
        params: dict[str, Any] = {}
        if "efConstruction" in self.build_params:
            params["efConstruction"] = int(self.build_params["efConstruction"])
        if method == "hnsw":
            for key in ("M", "post"):
                if key in self.build_params:
                    params[key] = int(self.build_params[key])
        elif "NN" in self.build_params:
            params["NN"] = int(self.build_params["NN"])
        if self.build_threads is not None:
            params["indexThreadQty"] = int(self.build_threads)
        return params

    def set_query_params(self, efSearch: int = 10) -> None:
        self.index.setQueryTimeParams({"efSearch": int(efSearch)})

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        found = self.index.knnQueryBatch(queries, k=k, num_threads=self.search_threads or 0)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for row, (row_ids, row_distances) in enumerate(found):
            ids[row, : len(row_ids)] = row_ids
            distances[row, : len(row_distances)] = row_distances
        return ids, distances


def _in_own_thread(work) -> None:
    """Run ``work`` in a new thread, so nmslib's per-thread level generator starts afresh."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="nmslib-build")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
