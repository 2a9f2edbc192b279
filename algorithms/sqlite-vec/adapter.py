"""sqlite-vec: the ``vec0`` virtual table inside SQLite, used as people deploy it: a database
file holding one vec0 table, rows inserted in one transaction, one SQL KNN query per search
vector. vec0 in 0.1.x has no index: every KNN query scans all stored vectors, chunk by chunk
(``chunk_size`` rows each), so answers are exact and the measured speed includes SQLite's
statement, page cache and row overhead, as a user sees it.

Traps:

- Extension loading: the SQLite inside many Pythons (this one included) is built without
  ``enable_load_extension``. We use pysqlite3 (pip install pysqlite3-binary, a recent SQLite
  that can load extensions) when it is importable, else the standard sqlite3, and refuse in
  one line when neither can load the extension.
- A KNN query names its size with ``AND k = ?``. ``LIMIT`` only reaches vec0 on SQLite 3.41
  and later; on an older SQLite a ``LIMIT`` alone fails. We always use ``k = ?``. vec0
  refuses k above 4096 (SQLITE_VEC_VEC0_K_MAX), so we refuse it first, in words.
- Metrics: ``distance_metric=l2`` (the true L2 distance, not squared) and ``cosine`` (1 -
  cosine similarity); vec0 has no inner product, so ip is refused.
- ``chunk_size`` must be a multiple of 8, at most 4096 (vec0's constructor).

Filtered search (when the worker hands over ``attributes``): ``label`` and ``value`` are vec0
metadata columns (integer), which vec0 tests during the scan, so the query finds the k nearest
among the passing rows (``AND label = ?``; ``AND value >= ? AND value < ?``). vec0 metadata
holds only scalars, so tags live in a plain table ``tags(tag, id)`` keyed by tag, and a tags
filter is ``AND id IN (SELECT id FROM tags WHERE tag = ? [INTERSECT ...])``: vec0 takes an
``IN`` on its primary key as a set of allowed ids and skips the others during the scan (a
pre-filter, not a filter of the k answers).

Streaming: ``insert`` adds rows (and their tags) in one transaction; ``delete`` is ``DELETE
FROM items WHERE id = ?`` per id in one transaction (vec0 clears the deleted rows' slots).

Concurrent clients run as forked processes: a SQLite connection must never be used across a
fork, so ``client()`` (called in the forked client) opens a connection of its own to the same
database file and loads the extension into it.
"""

import copy
import os
import shutil
import tempfile
from contextlib import contextmanager

import numpy as np
import sqlite_vec

try:  # a recent SQLite built with extension loading (pysqlite3-binary)
    import pysqlite3 as sqlite3
except ImportError:
    import sqlite3

from annbench.adapters.protocol import Adapter
from annbench.errors import AdapterError

DISTANCE_METRICS = {"euclidean": "l2", "angular": "cosine"}
K_MAX = 4096  # vec0 refuses larger k (SQLITE_VEC_VEC0_K_MAX)
CHUNK_SIZE_DEFAULT = 1024  # vec0's own default when chunk_size is not declared
CHUNK_SIZE_MAX = 4096
METADATA = ("label", "value")  # attribute columns held as vec0 metadata columns
# filter kind: the condition added to the KNN query (its parameters follow k)
WHERE = {"label": "AND label = ?", "range": "AND value >= ? AND value < ?"}
TAG_SET = "SELECT id FROM tags WHERE tag = ?"
KNN = "SELECT id, distance FROM items WHERE embedding MATCH ? AND k = ?"


def connect(path: str):
    """A connection to ``path`` with the vec0 extension loaded (autocommit: transactions are
    explicit)."""
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        raise AdapterError(
            "sqlite-vec: this Python's sqlite3 cannot load extensions; pip install pysqlite3-binary"
        )
    # check_same_thread off: the worker may search from another thread than the build's; each
    # client process has a connection of its own (client())
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.enable_load_extension(True)
        sqlite_vec.load(connection)
        connection.enable_load_extension(False)
    except (sqlite3.Error, AttributeError) as exc:
        connection.close()
        raise AdapterError(
            f"sqlite-vec: could not load the vec0 extension ({exc}); pip install pysqlite3-binary"
        ) from None
    return connection


class SqliteVecAdapter(Adapter):
    metrics = ("euclidean", "angular")

    def __init__(self, metric: str, **kwargs) -> None:
        super().__init__(metric, **kwargs)
        chunk_size = int(self.build_params.get("chunk_size", CHUNK_SIZE_DEFAULT))
        if not 8 <= chunk_size <= CHUNK_SIZE_MAX or chunk_size % 8:
            raise AdapterError(
                f"sqlite-vec: chunk_size {chunk_size} must be a multiple of 8 between 8 and "
                f"{CHUNK_SIZE_MAX}"
            )
        self.chunk_size = chunk_size
        self.connection = None
        self.folder: str | None = None
        self.owner = False  # whether this handle made the database (a client's did not)

    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.folder = tempfile.mkdtemp(prefix="annbench-sqlite-vec-")
        self.path = os.path.join(self.folder, "index.db")
        self.owner = True
        try:
            self._create(base, ids)
        except BaseException:
            self.close()  # the folder too: a failed build is never closed by the worker
            raise

    def _create(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.connection = connect(self.path)
        columns = [] if self.attributes is None else self.attributes.columns
        self.metadata = [name for name in METADATA if name in columns]
        self.tagged = "tags" in columns
        extra = "".join(f", {name} integer" for name in self.metadata)
        try:
            self.connection.execute(
                f"CREATE VIRTUAL TABLE items USING vec0(id integer primary key, "
                f"embedding float[{base.shape[1]}] distance_metric={DISTANCE_METRICS[self.metric]}"
                f"{extra}, chunk_size={self.chunk_size})"
            )
        except sqlite3.Error as exc:
            raise AdapterError(f"sqlite-vec: {exc}") from None
        if self.tagged:
            self.connection.execute(
                "CREATE TABLE tags (tag integer NOT NULL, id integer NOT NULL, "
                "PRIMARY KEY (tag, id)) WITHOUT ROWID"
            )
            self.connection.execute("CREATE INDEX tags_id ON tags (id)")  # for deletes
        self._add(base, ids)

    @contextmanager
    def _transaction(self):
        self.connection.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def _add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Insert ``vectors`` under ``ids`` (and, in a filtered run, their attributes)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        names = ", ".join(["id", "embedding", *self.metadata])
        marks = ", ".join("?" * (2 + len(self.metadata)))
        attributes = [getattr(self.attributes, name)[ids].tolist() for name in self.metadata]
        rows = zip(ids.tolist(), (vector.tobytes() for vector in vectors), *attributes)
        with self._transaction():
            self.connection.executemany(f"INSERT INTO items ({names}) VALUES ({marks})", rows)
            if self.tagged:
                self.connection.executemany(
                    "INSERT OR IGNORE INTO tags (tag, id) VALUES (?, ?)", self._tag_rows(ids)
                )

    def _tag_rows(self, ids: np.ndarray):
        """(tag, id) of every tag the vectors ``ids`` carry."""
        indptr = np.asarray(self.attributes.tags_indptr, dtype=np.int64)
        indices = np.asarray(self.attributes.tags_indices, dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64)
        lengths = indptr[ids + 1] - indptr[ids]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        # row r's tags sit at indptr[ids[r]] ..; gather them in row order
        gather = np.repeat(indptr[ids] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return zip(indices[gather].tolist(), np.repeat(ids, lengths).tolist())

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self._add(vectors, ids)

    def delete(self, ids: np.ndarray) -> None:
        rows = [(i,) for i in np.asarray(ids, dtype=np.int64).tolist()]
        with self._transaction():
            self.connection.executemany("DELETE FROM items WHERE id = ?", rows)
            if self.tagged:
                self.connection.executemany("DELETE FROM tags WHERE id = ?", rows)

    def _knn(self, queries: np.ndarray, k: int, statement) -> tuple[np.ndarray, np.ndarray]:
        """Run one KNN statement per query: ``statement(row)`` is its SQL and the parameters
        after the query vector and k."""
        if k > K_MAX:
            raise AdapterError(f"sqlite-vec: k = {k} is above vec0's limit of {K_MAX}")
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        cursor = self.connection.cursor()
        for row, query in enumerate(queries):
            sql, values = statement(row)
            found = cursor.execute(sql, (query.tobytes(), k, *values)).fetchall()
            if found:
                ids[row, : len(found)] = [r[0] for r in found]
                distances[row, : len(found)] = [r[1] for r in found]
        cursor.close()
        return ids, distances

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._knn(queries, k, lambda row: (KNN, ()))

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """One KNN query per search vector, its filter tested by vec0 during the scan (see the
        module's docstring)."""
        if filters.kind == "tags":
            by_count = {n: f"{KNN} AND id IN ({' INTERSECT '.join([TAG_SET] * n)})" for n in (1, 2)}

            def statement(row: int):
                tags = filters.tags(row)
                return (by_count[len(tags)], tags) if tags else (KNN, ())

        else:
            sql = f"{KNN} {WHERE[filters.kind]}"

            def statement(row: int):
                return sql, filters.key(row)

        return self._knn(queries, k, statement)

    def client(self) -> "SqliteVecAdapter":
        """A handle with a connection of its own to the same database file (called in the
        forked client: the build's connection must not be used across the fork). Its
        ``close`` closes that connection alone; the file belongs to the adapter that built
        it."""
        handle = copy.copy(self)
        handle.owner = False
        handle.connection = connect(self.path)
        return handle

    def memory_bytes(self) -> int | None:
        """The database file's size as SQLite reports it (pages x page size): the vectors,
        vec0's chunk bookkeeping and, in a filtered run, the attributes and tags table."""
        if self.connection is None:
            return None
        pages = self.connection.execute("PRAGMA page_count").fetchone()[0]
        size = self.connection.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(size)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        if self.owner and self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
