"""Write a dataset file incrementally: the base in blocks, then the queries and the rest.

``train`` and ``test`` are contiguous, uncompressed float32 (as ``write_dataset`` stores them,
so readers can memory-map them). Each base block is checked for NaN/inf and fed to an
incremental sha256 that ends equal to ``store.content_hash`` of the whole arrays. Hashing
runs on a helper thread (hashlib releases the GIL), overlapping the next block's making.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from annbench.datasets.filter_layout import write_filters
from annbench.datasets.filters import Attributes, FilterWorkload
from annbench.datasets.validity import FORMAT_VERSION, check_finite, check_shapes, first_nonfinite


class DatasetWriter:
    """An open dataset file being written; ``close()`` returns the content hash."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        n: int,
        n_queries: int,
        dim: int,
        metric: str,
        source: dict[str, Any],
    ) -> None:
        import h5py

        check_shapes(metric, (n, dim), (n_queries, dim))
        self.n, self.dim, self.metric = n, dim, metric
        self.file = h5py.File(path, "w")
        attrs = self.file.attrs
        attrs["type"] = "dense"
        attrs["distance"] = metric
        attrs["point_type"] = "float"
        attrs["dimension"] = dim
        attrs["annbench_format_version"] = FORMAT_VERSION
        attrs["annbench_source"] = json.dumps(source, sort_keys=True)
        self.train = self.file.create_dataset("train", shape=(n, dim), dtype="<f4")
        self.test = self.file.create_dataset("test", shape=(n_queries, dim), dtype="<f4")
        self.queries: np.ndarray | None = None
        self._digest = hashlib.sha256(metric.encode())
        self._digest.update(str((n, dim)).encode())
        self._rows = 0
        self._bad = (-1, 0)
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="annbench-hash")
        self._hashing: Future | None = None

    def append_base(self, block: np.ndarray) -> None:
        """Write the next rows of the base (any float type; stored as float32)."""
        block = np.ascontiguousarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != self.dim or self._rows + len(block) > self.n:
            raise ValueError(f"block {block.shape} does not fit the base ({self.n}, {self.dim})")
        first, count = first_nonfinite(block)
        if count:
            bad_first, bad_count = self._bad
            self._bad = (bad_first if bad_count else self._rows + first, bad_count + count)
        self._wait_hash()
        self._hashing = self._hasher.submit(self._digest.update, memoryview(block).cast("B"))
        self.train[self._rows : self._rows + len(block)] = block
        self._rows += len(block)

    @property
    def rows(self) -> int:
        """Base vectors written so far."""
        return self._rows

    def set_queries(self, queries: np.ndarray) -> np.ndarray:
        """Store the queries (after the whole base); return them as float32."""
        if self._rows != self.n:
            raise ValueError(f"queries given after {self._rows} of {self.n} base vectors")
        check_finite("base", *self._bad)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        check_shapes(self.metric, (self.n, self.dim), queries.shape)
        if queries.shape != self.test.shape:
            raise ValueError(f"queries {queries.shape} do not fit {self.test.shape}")
        check_finite("queries", *first_nonfinite(queries))
        self._wait_hash()
        self._digest.update(str(queries.shape).encode())
        self._digest.update(memoryview(queries).cast("B"))
        self.test[...] = queries
        self.queries = queries
        return queries

    def put(self, name: str, values: np.ndarray, dtype: Any) -> None:
        self.file.create_dataset(name, data=np.asarray(values, dtype=dtype))

    def put_measures(self, measures: dict[str, np.ndarray], info: dict[str, Any]) -> None:
        group = self.file.create_group("query_measures")
        group.attrs["info"] = json.dumps(info, sort_keys=True)
        for name, values in sorted(measures.items()):
            group.create_dataset(name, data=np.asarray(values, dtype=np.float64))

    def close(
        self,
        intrinsic: dict[str, Any] | None = None,
        attributes: Attributes | None = None,
        workloads: dict[str, FilterWorkload] | None = None,
    ) -> str:
        """Finish the file (content hash, intrinsic record, filter attributes and workloads);
        return the content hash."""
        self._wait_hash()
        digest = self._digest.hexdigest()
        self.file.attrs["annbench_content_hash"] = digest
        self.file.attrs["annbench_intrinsic"] = json.dumps(intrinsic or {}, sort_keys=True)
        write_filters(self.file, attributes, workloads or {})
        self.abort()
        return digest

    def abort(self) -> None:
        """Close the file and the hashing thread without finishing (the caller discards it)."""
        self._hasher.shutdown(wait=True)
        # after a failed write (a full disk) h5py's close can raise too; the first error is
        # the one to report, and the file is discarded anyway
        with contextlib.suppress(Exception):
            self.file.close()

    def _wait_hash(self) -> None:
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None
