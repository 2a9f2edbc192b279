"""PostgreSQL + pgvector, used as people deploy it: rows inserted with COPY, an HNSW index
built with CREATE INDEX, one SQL query per search vector. The build time covers the inserts
and the index build.

The server is the one named by ANNBENCH_PGVECTOR_DSN (a libpq URI), or else an embedded
PostgreSQL from the pgserver package, started in a temporary folder for this build.

Filtered search (when the worker hands over ``attributes``): the attributes are columns of the
same table, COPYed with their vectors (``label bigint``, ``value bigint``, ``tags bigint[]``),
each with the index pgvector's README advises for filtering (B-trees on label and value, a GIN
index on tags), then ANALYZE. A filtered query is the plain query with a WHERE clause::

    SELECT id, embedding <-> $q FROM t WHERE label = $v            ORDER BY ... LIMIT k
                                       WHERE value >= $lo AND value < $hi
                                       WHERE tags @> $tags::bigint[]

and PostgreSQL's planner chooses its plan per query, with that query's own values
(``plan_cache_mode = force_custom_plan``, so that prepared statements never fall back to a
generic plan): for a filter it estimates as broad, the HNSW index scan with the filter applied
to what the scan returns; for a selective one, an exact scan of the passing rows (through the
attribute index, or sequentially) sorted by distance. Measured on 3000 x 16 blobs at k = 10:
10% filters take the HNSW path, 1% filters the exact one (recall 1.000). In a filtered run the
build time also covers the attribute indexes and ANALYZE.

pgvector version: the embedded pgserver (0.1.4) ships PostgreSQL 16.2 with pgvector 0.6.2,
which has no iterative index scans (``hnsw.iterative_scan`` arrived in 0.8.0; setting it on
0.6.2 fails with 'invalid configuration parameter name'). So on the HNSW path the index
returns at most ``hnsw.ef_search`` rows and the filter keeps those that pass: a filter passed
by a share s of the rows leaves about ef_search x s of them (fewer when the passing rows lie
far from the query), and the answer is padded when that is under k. On those blobs at
ef_search = 160, 10% label filters reach recall 0.98 when the passing rows are near the
query, 0.45 when uncorrelated with it and 0.00 when far from it (0.65 at ef_search = 1000).
No query parameter exposes iterative scans, since the shipped server cannot do them.

Streaming: ``insert`` COPYs more rows (with their attributes in a filtered run) into the
indexed table, so PostgreSQL adds them to the HNSW index one by one; ``delete`` is
``DELETE FROM t WHERE id = ANY($ids)``. A deleted row stays in the HNSW index until VACUUM
(autovacuum, in its own time): the index scan may still return it, and PostgreSQL drops it as
invisible, so a query whose ef_search nearest index entries include deleted rows is answered
with fewer than k.
"""

import copy
import os
import tempfile

import numpy as np
import psycopg

from annbench.adapters.protocol import Adapter

OPERATORS = {
    "euclidean": ("<->", "vector_l2_ops"),
    "angular": ("<=>", "vector_cosine_ops"),
    "ip": ("<#>", "vector_ip_ops"),
}  # <#> is the negated inner product: ascending
DSN_ENV = "ANNBENCH_PGVECTOR_DSN"
APPLICATION = "annbench"  # application_name of the build's connection (pg_stat_activity)
CLIENT_APPLICATION = "annbench client"  # ... and of each concurrent client's own connection

# attribute column: (SQL type, index method), created when the dataset has the attribute
COLUMNS = {"label": ("bigint", "btree"), "value": ("bigint", "btree"), "tags": ("bigint[]", "gin")}
# filter kind: the WHERE clause, its parameters following the query vector's
WHERE = {
    "label": "label = %s::bigint",
    "range": "value >= %s::bigint AND value < %s::bigint",
    "tags": "tags @> %s::bigint[]",
}


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.9g}" for x in vector) + "]"


class PgvectorAdapter(Adapter):
    def build(self, base: np.ndarray, ids: np.ndarray) -> None:
        self.server = None
        dsn = os.environ.get(DSN_ENV)
        if not dsn:
            import pgserver

            self.folder = tempfile.TemporaryDirectory(prefix="annbench-pg-")
            self.server = pgserver.get_server(self.folder.name, cleanup_mode="stop")
            dsn = self.server.get_uri()
        self.dsn = dsn
        self.owner = True  # this adapter made the table (a client's handle did not)
        self.settings = {}  # session settings every connection of this build applies
        self.connection = psycopg.connect(dsn, autocommit=True, application_name=APPLICATION)
        self.table = f"annbench_items_{os.getpid()}"
        operator, opclass = OPERATORS[self.metric]
        self.operator = operator
        columns = [] if self.attributes is None else self.attributes.columns
        self.columns = columns
        with self.connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            extra = "".join(f", {name} {COLUMNS[name][0]}" for name in columns)
            cursor.execute(
                f"CREATE TABLE {self.table} (id bigint PRIMARY KEY, "
                f"embedding vector({base.shape[1]}){extra})"
            )
            self._copy(cursor, base, ids)
            cursor.execute(
                f"CREATE INDEX ON {self.table} USING hnsw (embedding {opclass}) WITH "
                f"(m = {int(self.build_params.get('m', 16))}, "
                f"ef_construction = {int(self.build_params.get('ef_construction', 64))})"
            )
            if columns:
                for name in columns:
                    method = COLUMNS[name][1]
                    cursor.execute(f"CREATE INDEX ON {self.table} USING {method} ({name})")
                cursor.execute(f"ANALYZE {self.table}")  # the planner's row estimates per filter
                self._set(cursor, "plan_cache_mode", "force_custom_plan")

    def _copy(self, cursor, vectors: np.ndarray, ids: np.ndarray) -> None:
        """COPY rows of (id, embedding, the attribute columns) into the table."""
        names = ", ".join(["id", "embedding", *self.columns])
        with cursor.copy(f"COPY {self.table} ({names}) FROM STDIN") as copy:
            if self.columns:
                for row in zip(ids.tolist(), vectors, *self._attribute_rows(ids, self.columns)):
                    copy.write_row((row[0], _literal(row[1]), *row[2:]))
            else:
                for vector_id, vector in zip(ids.tolist(), vectors):
                    copy.write_row((vector_id, _literal(vector)))

    def insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        with self.connection.cursor() as cursor:
            self._copy(cursor, vectors, ids)

    def delete(self, ids: np.ndarray) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self.table} WHERE id = ANY(%s)", (ids.tolist(),))

    def _attribute_rows(self, ids: np.ndarray, columns: list[str]) -> list[list]:
        """Each attribute column in insertion order (attributes are indexed by original id)."""
        rows = []
        for name in columns:
            if name == "tags":
                rows.append([self.attributes.tags_of(i).tolist() for i in ids.tolist()])
            else:
                rows.append(getattr(self.attributes, name)[ids].tolist())
        return rows

    def _set(self, cursor, name: str, value) -> None:
        """SET a session setting, and remember it for the connections of clients."""
        cursor.execute(f"SET {name} = {value}")
        self.settings[name] = value

    def set_query_params(self, ef_search: int = 40) -> None:
        with self.connection.cursor() as cursor:
            self._set(cursor, "hnsw.ef_search", int(ef_search))

    def client(self) -> "PgvectorAdapter":
        """A handle with a connection of its own to the same server, with this session's
        settings (a psycopg connection must not be shared across a fork, nor by threads
        searching at once). Its ``close`` closes that connection alone: the table and the
        server belong to the adapter that built them."""
        handle = copy.copy(self)
        handle.server, handle.owner = None, False
        handle.settings = dict(self.settings)
        handle.connection = psycopg.connect(
            self.dsn, autocommit=True, application_name=CLIENT_APPLICATION
        )
        with handle.connection.cursor() as cursor:
            for name, value in self.settings.items():
                cursor.execute(f"SET {name} = {value}")
        return handle

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        sql = (
            f"SELECT id, embedding {self.operator} %s::vector AS d FROM {self.table} "
            f"ORDER BY embedding {self.operator} %s::vector LIMIT {int(k)}"
        )
        with self.connection.cursor() as cursor:
            for row, query in enumerate(queries):
                text = _literal(query)
                found = cursor.execute(sql, (text, text), prepare=True).fetchall()
                if found:
                    ids[row, : len(found)] = [r[0] for r in found]
                    distances[row, : len(found)] = [r[1] for r in found]
        return ids, distances

    def filtered_search(
        self, queries: np.ndarray, k: int, filters
    ) -> tuple[np.ndarray, np.ndarray]:
        """One SQL query per search vector, its filter in the WHERE clause (see the module's
        docstring for the plans PostgreSQL picks)."""
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        distances = np.full((len(queries), k), np.inf, dtype=np.float32)
        sql = (
            f"SELECT id, embedding {self.operator} %s::vector AS d FROM {self.table} "
            f"WHERE {WHERE[filters.kind]} "
            f"ORDER BY embedding {self.operator} %s::vector LIMIT {int(k)}"
        )
        with self.connection.cursor() as cursor:
            for row, query in enumerate(queries):
                text = _literal(query)
                if filters.kind == "tags":
                    values = (filters.tags(row),)
                else:
                    values = tuple(np.atleast_1d(filters.values[row]).tolist())
                found = cursor.execute(sql, (text, *values, text), prepare=True).fetchall()
                if found:
                    ids[row, : len(found)] = [r[0] for r in found]
                    distances[row, : len(found)] = [r[1] for r in found]
        return ids, distances

    def memory_bytes(self) -> int:
        with self.connection.cursor() as cursor:
            return int(
                cursor.execute(f"SELECT pg_total_relation_size('{self.table}')").fetchone()[0]
            )

    def close(self) -> None:
        if self.owner:  # a client's handle closes its connection and leaves the table
            with self.connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.connection.close()
        if self.server is not None:
            self.server.cleanup()
            self.folder.cleanup()
