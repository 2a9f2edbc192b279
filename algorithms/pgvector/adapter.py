"""PostgreSQL + pgvector, used as people deploy it: rows inserted with COPY, an HNSW index
built with CREATE INDEX, one SQL query per search vector. The build time covers the inserts
and the index build.

The server is the one named by ANNBENCH_PGVECTOR_DSN (a libpq URI), or else an embedded
PostgreSQL from the pgserver package, started in a temporary folder for this build.
"""

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
        self.connection = psycopg.connect(dsn, autocommit=True)
        self.table = f"annbench_items_{os.getpid()}"
        operator, opclass = OPERATORS[self.metric]
        self.operator = operator
        with self.connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            cursor.execute(
                f"CREATE TABLE {self.table} (id bigint PRIMARY KEY, "
                f"embedding vector({base.shape[1]}))"
            )
            with cursor.copy(f"COPY {self.table} (id, embedding) FROM STDIN") as copy:
                for vector_id, vector in zip(ids.tolist(), base):
                    copy.write_row((vector_id, _literal(vector)))
            cursor.execute(
                f"CREATE INDEX ON {self.table} USING hnsw (embedding {opclass}) WITH "
                f"(m = {int(self.build_params.get('m', 16))}, "
                f"ef_construction = {int(self.build_params.get('ef_construction', 64))})"
            )

    def set_query_params(self, ef_search: int = 40) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SET hnsw.ef_search = {int(ef_search)}")

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

    def memory_bytes(self) -> int:
        with self.connection.cursor() as cursor:
            return int(
                cursor.execute(f"SELECT pg_total_relation_size('{self.table}')").fetchone()[0]
            )

    def close(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.connection.close()
        if self.server is not None:
            self.server.cleanup()
            self.folder.cleanup()
