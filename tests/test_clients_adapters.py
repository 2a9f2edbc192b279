"""Every built-in adapter serves concurrent clients the way its spec declares (``clients:
process`` or ``thread``): two clients answer what single mode answers; pgvector's clients each
search through a connection of their own; the no-op adapter runs as fast as the harness's own
ceiling."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from annbench.adapters.registry import discover, load_adapter_class
from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame

from .conftest import available

SERVING = sorted(name for name, spec in discover().items() if spec.clients)
SLOW = {"pynndescent"}  # numba compiles on first use, in each job's worker: about a minute
LEVELS = {"clients": [1, 2], "duration": 0.3, "client_warmup": 0.1}
BUILD = {"build_threads": [1], "seeds": [0]}  # one thread, one seed: a repeatable build repeats
UNREPEATABLE_TOLERANCE = 0.1  # recall of two builds of an adapter declaring repeatable: false


def run(dataset, results, entry: dict, **settings):
    """Run one adapter entry on ``dataset`` in worker processes; the frame of its results."""
    raw = {"datasets": [str(dataset)], "k": 10, "adapters": [entry], **settings}
    outcomes = run_sweep(expand(parse_experiment(raw), dataset.parent), results)
    assert [o.status for o in outcomes] == ["ok"], [o.error for o in outcomes]
    return load_frame(results)


def lowest_effort(spec) -> dict:
    """The first build point and the first query point of the spec's grids (the least search
    effort: recall below 1, so that equal recall means something)."""
    return {
        "name": spec.name,
        "build": {key: values[:1] for key, values in spec.build_grid.items()},
        "query": {key: values[:1] for key, values in spec.query_grid.items()},
    }


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in SERVING]
)
def test_two_clients_answer_as_single_mode_does(name, make_dataset, tmp_path):
    """Both levels come from one build, so their recall is equal; a repeatable build answers
    exactly as the single-mode run of the same build parameters, an unrepeatable one nearly."""
    spec = available(name)
    dataset = make_dataset()
    entry = lowest_effort(spec)
    single = run(
        dataset, tmp_path / "single", entry, modes=["single"], repeats=1, warmup=0, **BUILD
    )
    levels = run(dataset, tmp_path / "clients", entry, **LEVELS, **BUILD).sort_values("clients")
    assert levels["clients"].tolist() == [1, 2]
    assert (levels["client_mode"] == spec.clients).all()
    assert (levels["completed"] > 0).all() and (levels["coverage"] > 0).all()
    assert levels["recall"].nunique() == 1 and levels["recall"].iloc[0] > 0
    expected = single["recall"].iloc[0]
    if spec.repeatable:
        assert levels["recall"].iloc[0] == expected, (levels["recall"].tolist(), expected)
    else:
        assert levels["recall"].iloc[0] == pytest.approx(expected, abs=UNREPEATABLE_TOLERANCE)


def test_the_noop_adapter_runs_at_the_harness_ceiling(make_dataset, tmp_path):
    """The no-op adapter and the ceiling stored beside each level measure the same thing, the
    harness's own cost per query, so their QPS agree within a factor of 3."""
    frame = run(make_dataset(), tmp_path / "r", "noop", **LEVELS)
    for _, level in frame.iterrows():
        assert level["ceiling_qps"] / 3 < level["qps"] < 3 * level["ceiling_qps"], level


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """One PostgreSQL server with pgvector (pgserver's embedded one) for this module: its DSN."""
    available("pgvector")
    import pgserver

    server = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def test_each_pgvector_client_searches_through_a_connection_of_its_own(
    postgres, monkeypatch, make_dataset, tmp_path
):
    """While two clients run, the server holds two client connections of the run at once,
    none of them the connection the index was built through."""
    import psycopg

    monkeypatch.setenv("ANNBENCH_PGVECTOR_DSN", postgres)
    entry = {"name": "pgvector", "query": {"ef_search": [20]}}
    dataset = make_dataset()
    most, builders = set(), set()
    with psycopg.connect(postgres, autocommit=True) as watcher, ThreadPoolExecutor(1) as pool:
        levels = pool.submit(
            run, dataset, tmp_path / "r", entry, clients=[2], duration=2.0, client_warmup=0.1
        )
        while not levels.done():
            rows = watcher.execute(
                "SELECT pid, application_name FROM pg_stat_activity WHERE pid <> "
                "pg_backend_pid() AND datname = current_database() AND state IN "
                "('active', 'idle') AND application_name LIKE 'annbench%'"
            ).fetchall()
            clients = {pid for pid, application in rows if application == "annbench client"}
            builders |= {pid for pid, application in rows if application == "annbench"}
            most = max(most, clients, key=len)
            time.sleep(0.02)
    frame = levels.result()
    assert len(frame) == 1 and frame["recall"].iloc[0] > 0.5
    assert len(most) >= 2, most
    assert builders and not most & builders


def test_a_pgvector_client_keeps_the_query_settings_on_its_own_connection(postgres, monkeypatch):
    """``client()`` opens a new connection to the same server, sets the current ef_search on
    it and answers as the adapter does; closing it leaves the adapter's table and connection."""
    monkeypatch.setenv("ANNBENCH_PGVECTOR_DSN", postgres)
    spec = discover()["pgvector"]
    rng = np.random.default_rng(0)
    base = rng.standard_normal((500, 8), dtype=np.float32)
    queries = rng.standard_normal((20, 8), dtype=np.float32)
    adapter = load_adapter_class(spec.module_path, spec.class_name)("euclidean")
    adapter.build(base, np.arange(500))
    try:
        adapter.set_query_params(ef_search=12)
        handle = adapter.client()
        own = handle.connection
        assert own is not adapter.connection
        assert own.info.backend_pid != adapter.connection.info.backend_pid
        assert own.execute("SHOW hnsw.ef_search").fetchone()[0] == "12"
        found = handle.search(queries, 10)[0]
        np.testing.assert_array_equal(found, adapter.search(queries, 10)[0])
        handle.close()  # its own connection alone: the table stays
        assert own.closed and not adapter.connection.closed
        np.testing.assert_array_equal(adapter.search(queries, 10)[0], found)
    finally:
        adapter.close()
