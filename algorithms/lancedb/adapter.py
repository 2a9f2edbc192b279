"""LanceDB, embedded, used as people deploy it: one table written to a folder from an Arrow
table (the rows in the order given), then create_index with LanceDB's index configuration, and
one vector query for the whole batch of queries. The build time covers the write and the index.

``index_type: none`` builds no index: LanceDB then answers every query by an exact flat scan,
which is what a table gets until someone creates an index. The query parameters only reach
an index (nprobes: IVF partitions searched; refine_factor: re-rank k * factor candidates by
their full vectors, 0 for none).
"""

import tempfile

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import IvfPq

from annbench.adapters.protocol import Adapter
from annbench.errors import AdapterError

DISTANCES = {"euclidean": "l2", "angular": "cosine", "ip": "dot"}  # l2 squared; 1 - x others
INDEX_TYPES = ("IVF_PQ", "none")


class LanceDBAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        index_type = str(self.build_params.get("index_type", "IVF_PQ"))
        if index_type not in INDEX_TYPES:
            raise AdapterError(
                f"lancedb: index_type {index_type!r} is not one of {', '.join(INDEX_TYPES)}"
            )
        self.distance = DISTANCES[self.metric]
        self.folder = tempfile.TemporaryDirectory(prefix="annbench-lancedb-")
        database = lancedb.connect(self.folder.name)
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(base.reshape(-1)), base.shape[1])
        rows = pa.table({"id": pa.array(ids, type=pa.int64()), "vector": vectors})
        self.table = database.create_table("items", rows)
        self.indexed = index_type == "IVF_PQ"
        if self.indexed:
            config = IvfPq(
                distance_type=self.distance,
                num_partitions=int(self.build_params.get("num_partitions", 0)) or None,
                num_sub_vectors=int(self.build_params.get("num_sub_vectors", 0)) or None,
            )
            self.table.create_index("vector", config=config)
        self.nprobes, self.refine_factor = 20, 0

    def set_query_params(self, nprobes: int = 20, refine_factor: int = 0) -> None:
        self.nprobes, self.refine_factor = int(nprobes), int(refine_factor)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        one = len(queries) == 1  # one vector is one query: the answer has no query_index
        query = (
            self.table.search(queries[0] if one else queries).distance_type(self.distance).limit(k)
        )
        if self.indexed:
            query = query.nprobes(self.nprobes)
            if self.refine_factor:
                query = query.refine_factor(self.refine_factor)
        found = query.select(["id", "_distance"]).to_arrow()
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        rows = np.zeros(found.num_rows, np.int64) if one else found["query_index"].to_numpy()
        order = np.lexsort((found["_distance"].to_numpy(), rows))  # by query, nearest first
        rows = rows[order]
        columns = np.arange(len(rows)) - np.searchsorted(rows, rows)  # rank within its query
        ids[rows, columns] = found["id"].to_numpy()[order]
        distances[rows, columns] = found["_distance"].to_numpy()[order]
        return ids, distances

    def memory_bytes(self) -> int | None:
        """The index's size as LanceDB reports it (None without an index)."""
        if not self.indexed:
            return None
        return int(sum(index.size_bytes or 0 for index in self.table.list_indices())) or None

    def close(self) -> None:
        self.folder.cleanup()
