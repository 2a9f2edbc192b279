"""Milvus Lite, embedded, used as people deploy it: a MilvusClient on a local ``.db`` path
(pymilvus starts Milvus Lite's gRPC server inside this process), a collection with an int64
primary key and a float vector, rows inserted in the order given, a flush, then create_index
and load_collection, which builds the index of every flushed segment. One search call per
batch of at most QUERY_BATCH queries. The build time covers the inserts, the flush and the
index build.

Milvus Lite answers IP and COSINE with similarities (larger is closer): they are returned
negated (ip) or as 1 - similarity (angular), so that distances ascend.

Filtered search (when the worker hands over ``attributes``): the schema gains one scalar field
per attribute the dataset has (``label`` INT64, ``value`` INT64, ``tags`` ARRAY of INT64 whose
max_capacity is the largest tag set), inserted with the vectors, and each search call carries a
Milvus boolean expression in ``filter``: ``label == 3``, ``value >= 10 and value < 40``,
``array_contains_all(tags, [4, 17])``. Queries sharing a filter share the call. Milvus Lite
(3.x, pure Python) evaluates the expression into a mask over each segment's rows and hands it
to the index as a pre-filter: FAISS HNSW skips the failing rows during graph traversal
(IDSelectorBatch), FLAT scans only the passing rows (exact). The graph search stays within
its ef, so it loses recall when few rows pass or they lie far from the query: on 3000 x 16
blobs at k = 10 and ef = 160, 10% label filters reach 1.00 near the query, 0.87 uncorrelated
and 0.51 far from it; 1% ranges far from it 0.03 (0.45 at ef = 1000). Milvus Lite has no filter
templates (``filter_params``: 'unexpected character'), so values are written into the
expression; they are integers.
"""

import os
import tempfile

import numpy as np
from milvus_lite.server_manager import server_manager_instance
from pymilvus import DataType, MilvusClient

from annbench.adapters.protocol import Adapter

METRICS = {"euclidean": "L2", "angular": "COSINE", "ip": "IP"}  # L2 answers squared distances
COLLECTION = "annbench"
MESSAGE_BYTES = 16 << 20  # rows per insert call: about this many bytes of vectors
QUERY_BATCH = 1024
# Milvus Lite's FLAT search holds a (queries, rows, dimension) float32 array per call (23.8 GiB
# for 1000 queries over 100k x 64): calls carry fewer queries so that it stays below this
FLAT_CALL_BYTES = 256 << 20
GRAPH_INDEXES = ("AUTOINDEX", "HNSW")  # the index types that take M and efConstruction
MAX_CAPACITY = 4096  # the largest max_capacity Milvus allows an ARRAY field


class MilvusLiteAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="annbench-milvus-")
        self.path = os.path.join(self.folder.name, "annbench.db")
        self.milvus = MilvusClient(self.path)
        schema = self.milvus.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=base.shape[1])
        for name in [] if self.attributes is None else self.attributes.columns:
            if name == "tags":
                most_tags = int(np.diff(self.attributes.tags_indptr).max(initial=0))
                schema.add_field(
                    "tags",
                    DataType.ARRAY,
                    element_type=DataType.INT64,
                    max_capacity=min(MAX_CAPACITY, max(1, most_tags)),
                )
            else:
                schema.add_field(name, DataType.INT64)
        self.milvus.create_collection(COLLECTION, schema=schema)
        self.stored = 0
        self.insert(base, ids)
        self.milvus.flush(COLLECTION)
        index_type = str(self.build_params.get("index_type", "AUTOINDEX")).upper()
        self.graph = index_type in GRAPH_INDEXES
        params = {}
        if index_type in GRAPH_INDEXES:
            params = {
                "M": int(self.build_params.get("M", 16)),
                "efConstruction": int(self.build_params.get("efConstruction", 200)),
            }
        index = self.milvus.prepare_index_params()
        index.add_index(
            "vector", index_type=index_type, metric_type=METRICS[self.metric], params=params
        )
        self.milvus.create_index(COLLECTION, index)
        self.milvus.load_collection(COLLECTION)
        self.ef = 64

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        columns = self._attribute_columns(ids)
        per_call = max(1, MESSAGE_BYTES // (4 * vectors.shape[1]))
        keys, values = ids.tolist(), vectors.tolist()
        for start in range(0, len(values), per_call):
            end = start + per_call
            rows = [{"id": key, "vector": v} for key, v in zip(keys[start:end], values[start:end])]
            for name, column in columns.items():
                for row, value in zip(rows, column[start:end]):
                    row[name] = value
            self.milvus.insert(COLLECTION, rows)
        self.stored += len(ids)

    def delete(self, ids: np.ndarray) -> None:
        if len(ids):
            self.milvus.delete(COLLECTION, filter=f"id in {ids.tolist()}")
            self.stored -= len(ids)

    def _attribute_columns(self, ids: np.ndarray) -> dict[str, list]:
        """Each attribute column the dataset has, in insertion order (attributes are indexed
        by original id); none for an unfiltered run."""
        if self.attributes is None:
            return {}
        columns = {}
        for name in self.attributes.columns:
            if name == "tags":
                columns[name] = [self.attributes.tags_of(i).tolist() for i in ids.tolist()]
            else:
                columns[name] = getattr(self.attributes, name)[ids].tolist()
        return columns

    def set_query_params(self, ef: int = 64) -> None:
        self.ef = int(ef)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        self._search_into(ids, distances, queries, np.arange(len(queries)), k)
        return ids, distances

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """Milvus's own filtering: a boolean expression per search call (see the module's
        docstring), one call per batch of queries sharing a filter."""
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for group in filters.groups():
            expression = _expression(filters, int(group[0]))
            self._search_into(ids, distances, queries, group, k, expression)
        return ids, distances

    def _search_into(self, ids, distances, queries, rows, k: int, expression: str = "") -> None:
        """Answer ``queries[rows]`` into those rows of ``ids`` and ``distances``."""
        extra = {"filter": expression} if expression else {}
        per_call = QUERY_BATCH
        if not self.graph:
            row_bytes = 4 * max(1, self.stored) * queries.shape[1]
            per_call = min(per_call, max(1, FLAT_CALL_BYTES // row_bytes))
        for start in range(0, len(rows), per_call):
            batch = rows[start : start + per_call]
            found = self.milvus.search(
                COLLECTION,
                data=queries[batch].tolist(),
                limit=k,
                search_params={"params": {"ef": self.ef}},
                **extra,
            )
            for row, hits in zip(batch.tolist(), found):
                ids[row, : len(hits)] = [hit["id"] for hit in hits]
                distances[row, : len(hits)] = [hit["distance"] for hit in hits]
                if self.metric != "euclidean":  # similarities: larger is closer
                    distances[row, : len(hits)] *= -1
                    if self.metric == "angular":
                        distances[row, : len(hits)] += 1

    def memory_bytes(self) -> int | None:
        """The size of the index files Milvus Lite wrote beside each segment."""
        total = 0
        for root, _, files in os.walk(self.path):
            if os.path.basename(root) == "indexes":
                total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
        return total or None

    def close(self) -> None:
        self.milvus.close()
        server_manager_instance.release_server(self.path)
        self.folder.cleanup()


def _expression(filters, i: int) -> str:
    """Query ``i``'s filter as a Milvus boolean expression."""
    if filters.kind == "label":
        return f"label == {int(filters.values[i])}"
    if filters.kind == "range":
        lo, hi = (int(v) for v in filters.values[i])
        return f"value >= {lo} and value < {hi}"
    return f"array_contains_all(tags, {filters.tags(i)})"
