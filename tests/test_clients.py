"""Concurrent clients (annbench/run/workloads/clients.py): throughput against the number of
clients with the harness's ceiling beside it, recall equal to single mode, clients as forked
processes or threads, misbehaving clients contained, and bad input refused in one line."""

from __future__ import annotations

import math
import time

import numpy as np
import psutil
import pytest
import yaml

from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.run.workloads.clients import client_offsets
from annbench.store.frame import load_frame
from annbench.store.results import read_result


def _experiment(path, adapters, **settings):
    raw = {"datasets": [str(path)], "adapters": adapters, "k": 10, **settings}
    return parse_experiment(raw)


def _run(path, tmp_path, folder, adapters, executor="inline", **settings):
    jobs = expand(_experiment(path, adapters, **settings), path.parent)
    outcomes = run_sweep(jobs, tmp_path / folder, executor=executor)
    return outcomes, load_frame(tmp_path / folder)


HNSW = {"name": "hnswlib", "build": {"M": [12], "ef_construction": [60]}, "query": {"ef": [60]}}


def test_two_hnswlib_clients_beat_one_and_the_ceiling_is_measured_beside_them(
    make_dataset, tmp_path
):
    """On two cores, two forked clients search about twice as fast as one (bound loose for a
    noisy machine); every level stores the no-op ceiling, far above the index."""
    path = make_dataset("scale", n=8000, n_queries=200, dim=48)
    settings = {"clients": [1, 2], "duration": 1.5, "client_warmup": 0.3}
    for attempt in range(2):  # a second measurement when a busy machine spoilt the first
        outcomes, frame = _run(path, tmp_path, f"r{attempt}", [HNSW], **settings)
        assert [o.status for o in outcomes] == ["ok"]
        rows = frame.set_index("clients")
        if rows.loc[2, "qps"] > 1.2 * rows.loc[1, "qps"]:
            break
    assert list(rows.index) == [1, 2]
    assert (rows["client_mode"] == "process").all()
    assert rows.loc[2, "qps"] > 1.2 * rows.loc[1, "qps"], rows[["qps", "completed"]]
    assert (rows["ceiling_qps"] > 5 * rows["qps"]).all()
    assert not rows["harness_bound"].any()
    result = read_result(outcomes[0].path)
    point = result.points[1]
    assert point.mode == "clients" and len(point.client_completed) == 2
    assert min(point.client_completed) > 0.3 * max(point.client_completed)  # both worked
    assert len(point.latencies_ns) == point.completed == sum(point.client_completed)
    assert "wall time from the common start" in result.workload_info["qps"]
    # QPS is completed / wall, and the wall covers at least the window
    assert point.search_times_ns[0] >= 1.5e9
    assert rows.loc[2, "qps"] == pytest.approx(point.completed / (point.search_times_ns[0] / 1e9))


@pytest.mark.parametrize("adapter", ["crowd", "crowd-threads", HNSW])
def test_recall_at_every_level_equals_single_mode(make_dataset, tmp_path, test_adapters, adapter):
    """Same build, same answers: each level's first answers are the single-mode answers (the
    queries no client reached in the window answered after it), for processes and threads."""
    path = make_dataset("same", n=1500, n_queries=60, dim=16)
    settings = {"build_threads": [1], "seeds": [3]}
    _, single = _run(path, tmp_path, "single", [adapter], modes=["single"], **settings)
    outcomes, levels = _run(
        path, tmp_path, "clients", [adapter], clients=[1, 2, 3], duration=0.3,
        client_warmup=0.05, **settings,
    )  # fmt: skip
    assert len(levels) == 3 and (levels["status"] == "ok").all()
    assert levels["recall"].tolist() == [single["recall"].iloc[0]] * 3
    name = adapter if isinstance(adapter, str) else adapter["name"]
    expected_mode = "thread" if name == "crowd-threads" else "process"
    assert (levels["client_mode"] == expected_mode).all()
    single_ids = read_result(_path(tmp_path / "single")).points[0].ids
    for point in read_result(outcomes[0].path).points:
        np.testing.assert_array_equal(point.ids, single_ids)
        assert 0 < point.answered <= 60


def _path(folder):
    (path,) = folder.glob("*/*/*.h5")
    return path


def test_client_offsets_are_seeded_and_spread_evenly():
    assert client_offsets(100, 4, seed=7) == client_offsets(100, 4, seed=7)
    offsets = client_offsets(100, 4, seed=7)
    assert sorted((offset - offsets[0]) % 100 for offset in offsets) == [0, 25, 50, 75]
    assert client_offsets(100, 4, seed=8) != offsets


@pytest.mark.parametrize(
    "adapter,fail,reason",
    [
        ("crowd", "crash", "a client process failed"),
        ("crowd", "refuse", "no more connections"),
        ("crowd-threads", "refuse", "no more connections"),
    ],
)
def test_a_failing_client_fails_its_run_and_the_sweep_goes_on(
    make_dataset, tmp_path, test_adapters, adapter, fail, reason
):
    path = make_dataset("fail", n=500, n_queries=20, dim=8)
    bad = {"name": adapter, "build": {"fail": [fail]}}
    outcomes, _ = _run(
        path, tmp_path, "r", [bad, "crowd"], executor="process", clients=[2], duration=0.2,
        client_warmup=0.05,
    )  # fmt: skip
    assert [o.status for o in outcomes] == ["failed", "ok"]
    assert reason in outcomes[0].error


def test_a_hanging_client_is_killed_at_the_timeout_with_its_worker(
    make_dataset, tmp_path, test_adapters, monkeypatch
):
    """The job times out, and no client process it forked is left running."""
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv("ANNBENCH_TEST_PIDS", str(pids))
    path = make_dataset("hang", n=500, n_queries=20, dim=8)
    hang = {"name": "crowd", "build": {"fail": ["hang"]}}
    outcomes, _ = _run(
        path, tmp_path, "r", [hang], executor="process", clients=[2], duration=0.5,
        client_warmup=0.05, timeout=6,
    )  # fmt: skip
    assert outcomes[0].status == "failed" and "timeout" in outcomes[0].error.lower()
    forked = [int(p.name) for p in pids.iterdir()]
    assert len(forked) == 2
    deadline = time.monotonic() + 5
    while any(_running(pid) for pid in forked) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in forked)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"clients": [0]}, "client counts >= 1"),
        ({"clients": [2, -1]}, "client counts >= 1"),
        ({"clients": [True]}, "client counts >= 1"),
        ({"clients": [1], "duration": 0}, "'duration' must be a finite number of seconds > 0"),
        ({"clients": [1], "duration": -3}, "'duration' must be a finite number"),
        ({"clients": [1], "duration": math.nan}, "'duration' must be a finite number"),
        ({"clients": [1], "duration": math.inf}, "'duration' must be a finite number"),
        ({"clients": [1], "duration": "10s"}, "'duration' must be a finite number"),
        ({"clients": [1], "client_warmup": -1}, "'client_warmup' must be a finite number"),
        ({"clients": [1, 2], "adapters": ["sleepy"]}, "declares no client mode"),
    ],
)
def test_bad_clients_input_is_one_line_and_exit_2(
    cli, tmp_path, make_dataset, test_adapters, settings, message
):
    path = make_dataset("bad", n=300, n_queries=10, dim=8)
    before = sorted(p.name for p in path.parent.iterdir())
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump({"datasets": [str(path)], "adapters": ["crowd"], **settings}))
    status, out, err = cli("--results-dir", tmp_path / "r", "run", spec)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.h5"))
    assert sorted(p.name for p in path.parent.iterdir()) == before


def test_a_clients_job_is_a_measurement_of_its_own(make_dataset):
    """Levels, duration and mode are in the run id; a static job's id does not change."""
    path = make_dataset("ids", n=300, n_queries=10, dim=8)
    static = expand(_experiment(path, ["faiss-flat"]), path.parent)[0]
    clients = expand(_experiment(path, ["faiss-flat"], clients=[1, 2]), path.parent)[0]
    longer = expand(_experiment(path, ["faiss-flat"], clients=[1, 2], duration=20), path.parent)
    assert static.clients == [] and clients.clients == [1, 2]
    assert len({static.run_id, clients.run_id, longer[0].run_id}) == 3


def _runbook_run(path, tmp_path, adapters, runbook, **settings):
    experiment = _experiment(path, adapters, runbooks=[runbook], **settings)
    outcomes = run_sweep(expand(experiment, path.parent), tmp_path / "r", executor="inline")
    return outcomes, load_frame(tmp_path / "r")


def test_a_runbook_searches_with_clients_while_ingesting_and_without(
    make_dataset, tmp_path, test_adapters, cli
):
    """The step measures its clients without ingestion, then again while its points arrive at
    the set rate; each answer during ingestion is scored against the points inserted when its
    query began, and after the step every ingested point is in the index."""
    path = make_dataset("ingest", n=1600, n_queries=40, dim=8)
    runbook = {
        "name": "ingesting",
        "steps": [
            {"insert": {"range": [0, 1000]}},
            {"search": {"clients": 2, "duration": 1.0, "warmup": 0.1,
                        "ingest": {"range": [1000, 1600], "rate": 300}}},
            {"search": {}},
        ],
    }  # fmt: skip
    outcomes, frame = _runbook_run(path, tmp_path, ["crowd-threads"], runbook)
    assert [o.status for o in outcomes] == ["ok"], outcomes[0].error
    first = frame[frame["step"] == 2].sort_values("ingest_rate", na_position="first")
    quiet, busy = first.iloc[0], first.iloc[1]
    assert np.isnan(quiet["ingest_rate"]) and busy["ingest_rate"] == 300
    assert quiet["recall"] == 1.0 and busy["recall"] >= 0.97
    assert 200 <= busy["ingested"] <= 400  # about rate x duration
    assert busy["client_mode"] == "thread" and busy["completed"] > 0
    result = read_result(outcomes[0].path)
    point = next(p for p in result.points if p.ingest_counts is not None)
    assert point.ingest_counts.max() > 0
    assert (point.ids >= 1000).any()  # the clients saw points as they arrived
    assert frame[frame["step"] == 3]["recall"].iloc[0] == 1.0  # all 1600 are in
    # a search step's active count is what its truth covers: before its ingestion
    assert [r["active"] for r in result.steps if r["kind"] == "search"] == [1000, 1600]
    # the views pair the two measurements of the step and keep the busy one out of the score
    from annbench.analysis.streaming import ingestion_table, runbook_scores
    from annbench.views.report.builder import build_report

    (pair,) = ingestion_table(frame).itertuples()
    assert pair.recall_quiet == 1.0 and pair.qps_quiet == quiet["qps"]
    assert pair.qps_ingesting == busy["qps"] and pair.ingest_rate == 300
    assert sorted(runbook_scores(frame)["steps"]) == [1, 1]  # clients step; plain step
    build_report(tmp_path / "r", tmp_path / "report", frame=frame, data_dir=path.parent)
    (page,) = (tmp_path / "report").glob("streaming-*.html")
    assert "Search while ingesting" in page.read_text()
    status, out, _ = cli("--results-dir", tmp_path / "r", "results", "--scores")
    assert status == 0 and "measured while ingesting" in out and "recall_ingesting" in out


@pytest.mark.parametrize(
    "search,message",
    [
        ({"clients": 0}, "'clients' must be a whole number >= 1"),
        ({"clients": 2, "duration": -1}, "'duration' must be a finite number of seconds > 0"),
        ({"duration": 3}, "duration needs 'clients: N'"),
        ({"clients": 2, "ingest": {"range": [900, 1000]}}, "'ingest' must be an insert selection"),
        ({"clients": 2, "ingest": {"range": [900, 1000], "rate": 0}}, "ingest 'rate' must be"),
        ({"clients": 2, "ingest": {"range": [0, 10], "rate": 5}}, "already inserted"),
    ],
)
def test_bad_clients_steps_in_a_runbook_are_one_line(cli, tmp_path, make_dataset, search, message):
    path = make_dataset("badbook", n=1000, n_queries=10, dim=8)
    runbook = {"name": "bad", "steps": [{"insert": {"range": [0, 800]}}, {"search": search}]}
    spec = tmp_path / "spec.yml"
    spec.write_text(
        yaml.safe_dump({"datasets": [str(path)], "adapters": ["faiss-flat"], "runbooks": [runbook]})
    )
    status, _, err = cli("--results-dir", tmp_path / "r", "run", spec)
    assert status == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_an_adapter_that_cannot_ingest_is_skipped_with_the_reason(
    make_dataset, tmp_path, test_adapters
):
    path = make_dataset("noingest", n=1200, n_queries=10, dim=8)
    ingest = {"range": [1000, 1200], "rate": 100}
    runbook = {
        "name": "ing",
        "steps": [
            {"insert": {"range": [0, 1000]}},
            {"search": {"clients": 1, "duration": 0.2, "ingest": ingest}},
        ],
    }
    jobs = expand(_experiment(path, ["faiss-flat"], runbooks=[runbook]), path.parent)
    assert "cannot ingest" in jobs[0].skipped


def test_concurrency_study_measures_each_method_near_recall_095_beside_the_ceiling(
    cli, make_dataset, tmp_path
):
    import pandas as pd

    from annbench.studies.concurrency import client_levels

    path = make_dataset("study", n=3000, n_queries=100, dim=16)
    results = tmp_path / "results"
    # 1 s per level: at 0.3 s, 4 clients on 2 busy cores once measured the no-op adapter
    # below half of its own ceiling
    status, out, err = cli(
        "--data-dir", path.parent, "--results-dir", results, "experiment", "concurrency",
        "study", "--adapters", "hnswlib,faiss-hnsw", "--duration", "1",
    )  # fmt: skip
    assert status == 0, err
    table = pd.read_csv(results / "studies" / "concurrency-study.csv")
    assert set(table["adapter"]) == {"hnswlib", "faiss-hnsw", "noop"}
    for _, rows in table.groupby("adapter"):
        assert sorted(rows["clients"]) == client_levels()
    assert table[table["adapter"] == "noop"]["harness_bound"].all()
    assert not table[table["adapter"] != "noop"]["harness_bound"].any()
    # the chosen configuration is the one of the single-query sweep nearest 0.95
    sweep = load_frame(results)
    single = sweep[(sweep["mode"] == "single") & (sweep["adapter"] == "hnswlib")]
    nearest = single.loc[(single["recall"] - 0.95).abs().idxmin(), "query_params"]
    assert set(table[table["adapter"] == "hnswlib"]["query_params"]) == {nearest}
    assert (results / "studies" / "concurrency-study-qps.png").stat().st_size > 1000
    assert "QPS at p99 <=" in out


@pytest.mark.parametrize(
    "option,value,message",
    [
        ("--duration", "0", "--duration"),
        ("--duration", "nan", "--duration must be a positive number of seconds"),
        ("--p99-bound-ms", "inf", "--p99-bound-ms must be a positive number"),
        ("--adapters", "annoy", "annoy"),
    ],
)
def test_concurrency_study_refuses_bad_options_in_one_line(
    cli, make_dataset, tmp_path, option, value, message
):
    path = make_dataset("study", n=300, n_queries=10, dim=8)
    status, _, err = cli(
        "--data-dir", path.parent, "--results-dir", tmp_path / "r", "experiment", "concurrency",
        "study", option, value,
    )  # fmt: skip
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()  # refused before anything ran


def test_pgvector_serves_clients_while_rows_arrive(make_dataset, tmp_path):
    """A real server: two clients (each its own connection) search while the adapter's own
    connection COPYs rows in at the set rate; the ingested rows are found as they arrive."""
    pytest.importorskip("pgserver")
    path = make_dataset("pgingest", n=2000, n_queries=40, dim=8)
    runbook = {
        "name": "pg-ingest",
        "steps": [
            {"insert": {"range": [0, 1500]}},
            {"search": {"clients": 2, "duration": 1.5, "warmup": 0.2,
                        "ingest": {"range": [1500, 2000], "rate": 200}}},
            {"search": {}},
        ],
    }  # fmt: skip
    pgvector = {"name": "pgvector", "query": {"ef_search": [80]}}
    experiment = _experiment(path, [pgvector], runbooks=[runbook])
    outcomes = run_sweep(expand(experiment, path.parent), tmp_path / "r", executor="process")
    assert [o.status for o in outcomes] == ["ok"], outcomes[0].error
    frame = load_frame(tmp_path / "r")
    busy = frame[frame["ingest_rate"] == 200].iloc[0]
    quiet = frame[(frame["step"] == 2) & frame["ingest_rate"].isna()].iloc[0]
    assert busy["client_mode"] == "thread" and 150 <= busy["ingested"] <= 400
    assert quiet["recall"] > 0.8 and busy["recall"] > 0.8
    point = next(p for p in read_result(outcomes[0].path).points if p.ingest_counts is not None)
    assert (point.ids >= 1500).any()
    assert frame[frame["step"] == 3]["recall"].iloc[0] > 0.8
