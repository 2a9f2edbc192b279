"""Chroma, embedded, used as people deploy it: a persistent client on a folder, one
collection whose HNSW settings go in its configuration, vectors added in batches of the
client's largest accepted size, one query call for the whole batch of queries. The build time
covers the adds.

Chroma fixes ef_search when it loads a collection's index: changing it with ``modify`` is
stored but not seen by the index already in memory. A new query setting is therefore stored,
and the client reopened on the same folder (outside the timed searches), so the next searches
run with it.
"""

import os
import tempfile

import chromadb
import numpy as np

from annbench.adapters.protocol import Adapter

SPACES = {"euclidean": "l2", "angular": "cosine", "ip": "ip"}  # l2 is squared; the others 1 - x
COLLECTION = "annbench"


class ChromaAdapter(Adapter):
    def _connect(self) -> None:
        settings = chromadb.Settings(anonymized_telemetry=False)
        self.client = chromadb.PersistentClient(path=self.folder.name, settings=settings)

    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="annbench-chroma-")
        self._connect()
        self.ef_search = 100  # Chroma's default, until set_query_params says otherwise
        hnsw = {
            "space": SPACES[self.metric],
            "max_neighbors": int(self.build_params.get("max_neighbors", 16)),
            "ef_construction": int(self.build_params.get("ef_construction", 100)),
            "ef_search": self.ef_search,
            "num_threads": self.build_threads or os.cpu_count(),
        }
        self.collection = self.client.create_collection(
            COLLECTION, configuration={"hnsw": hnsw}, embedding_function=None
        )
        batch = self.client.get_max_batch_size()
        names = [str(i) for i in ids.tolist()]
        for start in range(0, len(base), batch):
            self.collection.add(
                ids=names[start : start + batch], embeddings=base[start : start + batch]
            )

    def set_query_params(self, ef_search: int = 100) -> None:
        if int(ef_search) == self.ef_search:
            return
        self.ef_search = int(ef_search)
        self.collection.modify(configuration={"hnsw": {"ef_search": self.ef_search}})
        self.client.clear_system_cache()  # drops the loaded index; reopening loads it anew
        self._connect()
        self.collection = self.client.get_collection(COLLECTION, embedding_function=None)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        found = self.collection.query(query_embeddings=queries, n_results=k, include=["distances"])
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for row, (names, scores) in enumerate(zip(found["ids"], found["distances"])):
            ids[row, : len(names)] = [int(name) for name in names]
            distances[row, : len(scores)] = scores
        return ids, distances

    def memory_bytes(self) -> int | None:
        """The size of the collection's index files (Chroma writes each HNSW segment to a
        folder of its own beside the SQLite file, which holds the log and the metadata)."""
        total = 0
        for entry in os.scandir(self.folder.name):
            if entry.is_dir():
                for root, _, files in os.walk(entry.path):
                    total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
        return total or None

    def close(self) -> None:
        self.client.clear_system_cache()
        self.folder.cleanup()
