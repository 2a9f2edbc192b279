"""Chroma, embedded, used as people deploy it: a persistent client on a folder, one
collection whose HNSW settings go in its configuration, vectors added in batches of the
client's largest accepted size, one query call for the whole batch of queries. The build time
covers the adds.

Chroma fixes ef_search when it loads a collection's index: changing it with ``modify`` is
stored but not seen by the index already in memory. A new query setting is therefore stored,
and the client reopened on the same folder (outside the timed searches), so the next searches
run with it.

Filtered search is Chroma's own ``where`` filter. When the run carries attributes, each
record's metadata holds them at ``add`` time: ``label`` and ``value`` as ints, ``tags`` as a
list of ints (Chroma 1.5 accepts non-empty homogeneous lists as metadata values; a vector
without tags has no ``tags`` key). The filters then go to ``query`` as
``{"label": v}``, ``{"$and": [{"value": {"$gte": lo}}, {"value": {"$lt": hi}}]}`` and
``{"tags": {"$contains": a}}`` (two tags: ``$and`` of two). Chroma evaluates the filter on its
metadata and restricts the HNSW search to the passing ids (brute force when few pass).
Queries sharing a filter go in one ``query`` call. Without attributes, records have no
metadata, as before.

Streaming: ``insert`` is ``add`` (in the same batches as the build, with metadata in a
filtered run), ``delete`` is ``delete(ids=...)``: Chroma removes the records from its log and
metadata at once and from the HNSW segment as it applies the log, and queries never return
them.
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
        self.chroma = chromadb.PersistentClient(path=self.folder.name, settings=settings)

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
        self.collection = self.chroma.create_collection(
            COLLECTION, configuration={"hnsw": hnsw}, embedding_function=None
        )
        self.insert(base, ids)

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        batch = self.chroma.get_max_batch_size()
        names = [str(i) for i in ids.tolist()]
        metadatas = self._metadatas(ids) if self.attributes is not None else None
        for start in range(0, len(vectors), batch):
            extra = {} if metadatas is None else {"metadatas": metadatas[start : start + batch]}
            self.collection.add(
                ids=names[start : start + batch], embeddings=vectors[start : start + batch], **extra
            )

    def delete(self, ids: np.ndarray) -> None:
        batch = self.chroma.get_max_batch_size()
        names = [str(i) for i in ids.tolist()]
        for start in range(0, len(names), batch):
            self.collection.delete(ids=names[start : start + batch])

    def _metadatas(self, ids: np.ndarray) -> list:
        """Each record's attributes as Chroma metadata (None: a record with none of them)."""
        attributes = self.attributes
        columns = attributes.columns
        label = attributes.label[ids].tolist() if "label" in columns else None
        value = attributes.value[ids].tolist() if "value" in columns else None
        metadatas = []
        for row, i in enumerate(ids.tolist()):
            metadata = {}
            if label is not None:
                metadata["label"] = int(label[row])
            if value is not None:
                metadata["value"] = int(value[row])
            if "tags" in columns:
                tags = attributes.tags_of(i).tolist()
                if tags:  # Chroma refuses an empty list
                    metadata["tags"] = [int(t) for t in tags]
            metadatas.append(metadata or None)
        return metadatas

    def set_query_params(self, ef_search: int = 100) -> None:
        if int(ef_search) == self.ef_search:
            return
        self.ef_search = int(ef_search)
        self.collection.modify(configuration={"hnsw": {"ef_search": self.ef_search}})
        self.chroma.clear_system_cache()  # drops the loaded index; reopening loads it anew
        self._connect()
        self.collection = self.chroma.get_collection(COLLECTION, embedding_function=None)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        found = self.collection.query(query_embeddings=queries, n_results=k, include=["distances"])
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        _fill(ids, distances, np.arange(len(queries)), found)
        return ids, distances

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """One ``query`` with a ``where`` filter per group of queries sharing a filter."""
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for group in filters.groups():
            found = self.collection.query(
                query_embeddings=queries[group],
                n_results=k,
                where=where_clause(filters, int(group[0])),
                include=["distances"],
            )
            _fill(ids, distances, group, found)
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
        self.chroma.clear_system_cache()
        self.folder.cleanup()


def where_clause(filters, i: int) -> dict:
    """Query ``i``'s filter in Chroma's ``where`` syntax."""
    if filters.kind == "label":
        return {"label": int(filters.values[i])}
    if filters.kind == "range":
        lo, hi = (int(v) for v in filters.values[i])
        return {"$and": [{"value": {"$gte": lo}}, {"value": {"$lt": hi}}]}
    clauses = [{"tags": {"$contains": tag}} for tag in filters.tags(i)]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _fill(ids: np.ndarray, distances: np.ndarray, rows, found) -> None:
    """Write a ``query`` answer (one list per query) into rows ``rows`` of ids, distances."""
    for row, names, scores in zip(rows, found["ids"], found["distances"]):
        ids[row, : len(names)] = [int(name) for name in names]
        distances[row, : len(scores)] = scores
