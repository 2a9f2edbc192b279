"""Milvus Lite, embedded, used as people deploy it: a MilvusClient on a local ``.db`` path
(pymilvus starts Milvus Lite's gRPC server inside this process), a collection with an int64
primary key and a float vector, rows inserted in the order given, a flush, then create_index
and load_collection, which builds the index of every flushed segment. One search call per
batch of at most QUERY_BATCH queries. The build time covers the inserts, the flush and the
index build.

Milvus Lite answers IP and COSINE with similarities (larger is closer): they are returned
negated (ip) or as 1 - similarity (angular), so that distances ascend.
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
GRAPH_INDEXES = ("AUTOINDEX", "HNSW")  # the index types that take M and efConstruction


class MilvusLiteAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="annbench-milvus-")
        self.path = os.path.join(self.folder.name, "annbench.db")
        self.client = MilvusClient(self.path)
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=base.shape[1])
        self.client.create_collection(COLLECTION, schema=schema)
        per_call = max(1, MESSAGE_BYTES // (4 * base.shape[1]))
        keys, vectors = ids.tolist(), base.tolist()
        for start in range(0, len(vectors), per_call):
            rows = zip(keys[start : start + per_call], vectors[start : start + per_call])
            self.client.insert(COLLECTION, [{"id": key, "vector": v} for key, v in rows])
        self.client.flush(COLLECTION)
        index_type = str(self.build_params.get("index_type", "AUTOINDEX")).upper()
        params = {}
        if index_type in GRAPH_INDEXES:
            params = {
                "M": int(self.build_params.get("M", 16)),
                "efConstruction": int(self.build_params.get("efConstruction", 200)),
            }
        index = self.client.prepare_index_params()
        index.add_index(
            "vector", index_type=index_type, metric_type=METRICS[self.metric], params=params
        )
        self.client.create_index(COLLECTION, index)
        self.client.load_collection(COLLECTION)
        self.ef = 64

    def set_query_params(self, ef: int = 64) -> None:
        self.ef = int(ef)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for start in range(0, len(queries), QUERY_BATCH):
            found = self.client.search(
                COLLECTION,
                data=queries[start : start + QUERY_BATCH].tolist(),
                limit=k,
                search_params={"params": {"ef": self.ef}},
            )
            for row, hits in enumerate(found, start):
                ids[row, : len(hits)] = [hit["id"] for hit in hits]
                distances[row, : len(hits)] = [hit["distance"] for hit in hits]
                if self.metric != "euclidean":  # similarities: larger is closer
                    distances[row, : len(hits)] *= -1
                    if self.metric == "angular":
                        distances[row, : len(hits)] += 1
        return ids, distances

    def memory_bytes(self) -> int | None:
        """The size of the index files Milvus Lite wrote beside each segment."""
        total = 0
        for root, _, files in os.walk(self.path):
            if os.path.basename(root) == "indexes":
                total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
        return total or None

    def close(self) -> None:
        self.client.close()
        server_manager_instance.release_server(self.path)
        self.folder.cleanup()
