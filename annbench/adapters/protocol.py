"""What an adapter is: a small class around one library, plus a spec file beside it.

The harness, not the adapter, decides everything about a run: it applies the insertion order
(``build`` receives the base vectors in that order together with their original ids), times
every call, and names the run. For the angular metric the harness hands over unit-normalised
vectors, so an adapter may treat angular as inner product.

The worker caps OpenMP and BLAS pools to ``build_threads`` around ``build`` and to
``search_threads`` around searches; an adapter whose library starts its own threads (hnswlib)
passes ``self.build_threads`` / ``self.search_threads`` on itself (None: library default).
Randomised builds take ``self.seed``.

Streaming (runbook workloads): an adapter that declares ``supports: [insert, delete]`` (either
or both) in its spec file implements ``insert`` and ``delete``. The first insert step of a
runbook is ``build`` (so an index that trains, like IVF, trains on the first batch); later
ones call ``insert``. Before ``build`` the worker sets ``capacity``, the most vectors that
will ever have been inserted over the runbook, for libraries that preallocate.

Concurrent clients (clients workloads): the spec file declares how clients reach the index,
``clients: process`` (forked after the build, sharing an in-process index copy-on-write;
each opens its own connection in ``client()`` where the index lives in a server) or
``clients: thread`` (threads of the worker: the library must release the GIL and allow
concurrent searches). An adapter that declares neither cannot serve clients.

An adapter returns, for each query, ``k`` original ids and the library's own distances, nearest
first, padded with -1 ids when it finds fewer than ``k``. Distances must ascend (smaller is
closer): a library that scores by similarity returns it negated. The harness recomputes true
distances itself and never trusts these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annbench.errors import AdapterError


class Adapter:
    """Base class of every adapter. Subclasses implement ``build`` and ``search``."""

    #: metrics the adapter supports; the spec file's ``metrics`` must agree.
    metrics: tuple[str, ...] = ("euclidean", "angular", "ip")

    def __init__(
        self, metric: str, *, seed: int = 0, build_threads: int | None = None, **build_params: Any
    ) -> None:
        if metric not in self.metrics:
            raise AdapterError(
                f"{type(self).__name__} does not support metric {metric!r} "
                f"(supports {', '.join(self.metrics)})"
            )
        self.metric = metric
        self.seed = seed
        self.build_threads = build_threads  # None: the library's default
        self.search_threads: int | None = None  # set by the worker before each measurement
        self.build_params = build_params
        self.query_params: dict[str, Any] = {}

    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        """Index ``base`` (float32, C-contiguous); ``ids[i]`` is the id of ``base[i]``."""
        raise NotImplementedError

    def set_query_params(self, **params: Any) -> None:
        """Switch to the next point of the query sweep (e.g. ef, nprobe)."""
        self.query_params = params

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids, distances), both of shape (len(queries), k); ids padded with -1."""
        raise NotImplementedError

    #: set by the worker before ``build`` in a filtered workload: the base's attribute columns,
    #: indexed by original id (annbench.datasets.filters.Attributes); None otherwise
    attributes = None

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """Answer each query among the base vectors passing its own filter, as ``search``
        answers (fewer than k pass: pad with -1). ``filters`` is one filter per query
        (annbench.datasets.filters.QueryFilters: ``kind``, ``values``, ``groups()`` of queries
        sharing a filter, ``mask(self.attributes, i)`` over original ids, ``describe(i)``).
        Declare the kinds the library filters natively in spec.yml: ``filters: [label, tags,
        range]``; the harness then checks that every answer passes its filter."""
        raise NotImplementedError

    #: set by the worker before ``build`` in a runbook workload: the most vectors that will ever
    #: have been inserted over the runbook (deleted ones included), for libraries that
    #: preallocate (hnswlib's ``max_elements``); None outside runbooks: size for the build alone
    capacity: int | None = None

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add ``vectors`` (float32, C-contiguous, metric-normalised like build's) under their
        original ``ids``, after ``build``. The harness never inserts an id twice over a
        runbook, nor re-inserts a deleted one. Declare it in spec.yml: ``supports: [insert]``."""
        raise NotImplementedError

    def delete(self, ids: np.ndarray) -> None:
        """Remove ``ids`` (all currently present); afterwards ``search`` (and
        ``filtered_search``) must never return them. Declare it: ``supports: [delete]``."""
        raise NotImplementedError

    def client(self) -> Adapter:
        """The handle one concurrent client searches through (clients workloads). Called in
        the client itself: a process forked after the build (declared ``clients: process``)
        or a thread (``clients: thread``). The default shares this adapter: right for an
        in-process index; an adapter talking to a server opens a connection of its own here,
        with the current query parameters."""
        return self

    def memory_bytes(self) -> int | None:
        """The index's own size as the library reports it, when it does."""
        return None

    def close(self) -> None:
        """Release external resources (servers, files). Called once after the sweep."""
