"""LanceDB, embedded, used as people deploy it: one table written to a folder from an Arrow
table (the rows in the order given), then create_index with LanceDB's index configuration, and
one vector query for the whole batch of queries. The build time covers the write and the index.

``index_type: none`` builds no index: LanceDB then answers every query by an exact flat scan,
which is what a table gets until someone creates an index. The query parameters only reach
an index (nprobes: IVF partitions searched; refine_factor: re-rank k * factor candidates by
their full vectors, 0 for none).

Filtered search is LanceDB's own ``where`` clause. When the run carries attributes, the table
holds them as columns beside the vectors (``label`` and ``value`` int64, ``tags`` a list of
int64), each with the scalar index LanceDB recommends for filtered columns (BTREE on label and
value, LABEL_LIST on tags; built after the vector index, inside the build time). Filters are
SQL: ``label = v``, ``value >= lo AND value < hi``, ``array_has_all(tags, [a, b])``. The query
parameter ``prefilter`` picks LanceDB's two modes: True (its default) filters first and
searches among the passing rows; False searches first and filters the k answers, so it can
return fewer than k (padded with -1), the more so the rarer the filter. Queries sharing a
filter go in one query. ``prefilter`` has no effect on unfiltered searches.

Streaming: ``insert`` is ``table.add`` (rows LanceDB has not indexed yet are searched by a
flat scan beside the index, until someone calls ``optimize``), ``delete`` is
``table.delete("id IN (...)")``, which writes a deletion file that every later search applies.
"""

import tempfile

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import BTree, IvfPq, LabelList

from annbench.adapters.protocol import Adapter
from annbench.errors import AdapterError

DISTANCES = {"euclidean": "l2", "angular": "cosine", "ip": "dot"}  # l2 squared; 1 - x others
INDEX_TYPES = ("IVF_PQ", "none")
SCALAR_INDEXES = {"label": BTree, "value": BTree, "tags": LabelList}


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
        rows = self._rows(base, ids)
        self.table = database.create_table("items", rows)
        self.indexed = index_type == "IVF_PQ"
        if self.indexed:
            config = IvfPq(
                distance_type=self.distance,
                num_partitions=int(self.build_params.get("num_partitions", 0)) or None,
                num_sub_vectors=int(self.build_params.get("num_sub_vectors", 0)) or None,
            )
            self.table.create_index("vector", config=config)
        for column, kind in SCALAR_INDEXES.items():
            if column in rows.column_names:
                self.table.create_index(column, config=kind())
        self.nprobes, self.refine_factor, self.prefilter = 20, 0, True

    def _rows(self, vectors: np.ndarray, ids: np.ndarray) -> pa.Table:
        """The table rows of ``vectors``: id, vector and, in a filtered run, the attributes."""
        flat = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
        columns = {"id": pa.array(ids, type=pa.int64()), "vector": flat}
        if self.attributes is not None:
            columns.update(attribute_columns(self.attributes, ids))
        return pa.table(columns)

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self.table.add(self._rows(vectors, ids))

    def delete(self, ids: np.ndarray) -> None:
        if len(ids):  # "id IN ()" is not SQL
            self.table.delete(f"id IN ({', '.join(map(str, ids.tolist()))})")

    def set_query_params(
        self, nprobes: int = 20, refine_factor: int = 0, prefilter: bool = True
    ) -> None:
        self.nprobes, self.refine_factor = int(nprobes), int(refine_factor)
        self.prefilter = bool(prefilter)

    def _query(self, queries: np.ndarray, k: int):
        one = len(queries) == 1  # one vector is one query: the answer has no query_index
        query = (
            self.table.search(queries[0] if one else queries).distance_type(self.distance).limit(k)
        )
        if self.indexed:
            query = query.nprobes(self.nprobes)
            if self.refine_factor:
                query = query.refine_factor(self.refine_factor)
        return query

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        found = self._query(queries, k).select(["id", "_distance"]).to_arrow()
        _fill(ids, distances, np.arange(len(queries)), found)
        return ids, distances

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """One query with a ``where`` clause per group of queries sharing a filter."""
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        for group in filters.groups():
            query = self._query(queries[group], k).where(
                where_clause(filters, int(group[0])), prefilter=self.prefilter
            )
            _fill(ids, distances, group, query.select(["id", "_distance"]).to_arrow())
        return ids, distances

    def memory_bytes(self) -> int | None:
        """The vector index's size as LanceDB reports it (None without one); the scalar
        indexes of a filtered run are not counted."""
        if not self.indexed:
            return None
        sizes = [
            index.size_bytes or 0
            for index in self.table.list_indices()
            if list(index.columns) == ["vector"]
        ]
        return int(sum(sizes)) or None

    def close(self) -> None:
        self.folder.cleanup()


def attribute_columns(attributes, ids: np.ndarray) -> dict:
    """The attribute columns of the rows ``ids`` (in that order), as Arrow arrays."""
    columns = {}
    for name in ("label", "value"):
        if name in attributes.columns:
            columns[name] = pa.array(getattr(attributes, name)[ids], type=pa.int64())
    if "tags" in attributes.columns:
        indptr = np.asarray(attributes.tags_indptr, dtype=np.int64)
        lengths = np.diff(indptr)[ids]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        # row r's tags sit at indptr[ids[r]] ..; gather them in row order
        gather = np.repeat(indptr[ids] - offsets[:-1], lengths) + np.arange(offsets[-1])
        values = pa.array(np.asarray(attributes.tags_indices, dtype=np.int64)[gather])
        if offsets[-1] < 2**31:
            columns["tags"] = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
        else:
            columns["tags"] = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    return columns


def where_clause(filters, i: int) -> str:
    """Query ``i``'s filter as a LanceDB SQL predicate."""
    if filters.kind == "label":
        return f"label = {int(filters.values[i])}"
    if filters.kind == "range":
        lo, hi = (int(v) for v in filters.values[i])
        return f"value >= {lo} AND value < {hi}"
    return f"array_has_all(tags, [{', '.join(str(t) for t in filters.tags(i))}])"


def _fill(ids: np.ndarray, distances: np.ndarray, rows: np.ndarray, found: pa.Table) -> None:
    """Write an answer (rows tagged by query_index, within ``rows``) into ids and distances,
    each query's rows nearest first."""
    if len(rows) == 1:  # one vector is one query: the answer has no query_index
        where = np.zeros(found.num_rows, np.int64)
    else:
        where = found["query_index"].to_numpy()
    order = np.lexsort((found["_distance"].to_numpy(), where))  # by query, nearest first
    where = where[order]
    columns = np.arange(len(where)) - np.searchsorted(where, where)  # rank within its query
    ids[rows[where], columns] = found["id"].to_numpy()[order]
    distances[rows[where], columns] = found["_distance"].to_numpy()[order]
