"""The dask executor and sharded ground truth on a real cluster: a `dask scheduler` and two
`dask worker` processes on 127.0.0.1, started here."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame
from annbench.store.results import read_result, result_files

pytest.importorskip("distributed")
DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_workers(address: str, count: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout="20s") as client:
        client.wait_for_workers(count, timeout=timeout)


@pytest.fixture(scope="module")
def cluster():
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    workers = [
        subprocess.Popen(
            [
                DASK,
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--resources",
                "annbench=1",
                "--no-dashboard",
                "--name",
                f"w{i}",
                "--host",
                "127.0.0.1",
            ],
            **quiet,
        )
        for i in range(2)
    ]
    try:
        _wait_for_workers(address, 2)
        yield {"address": address, "workers": workers}
    finally:
        for proc in [*workers, scheduler]:
            proc.kill()
            proc.wait()


def sweep(tmp_path, dataset, adapters, executor, options=None, **settings):
    experiment = parse_experiment(
        {"datasets": [str(dataset)], "adapters": adapters, "repeats": 1, **settings}
    )
    jobs = expand(experiment, tmp_path / "datasets")
    return jobs, run_sweep(
        jobs, tmp_path / f"results-{executor}", executor=executor, options=options or {}
    )


def test_sweep_through_the_cluster_matches_the_process_executor(tmp_path, cluster, make_dataset):
    path = make_dataset(generator="gauss", n=3000, dim=16)
    adapters = [
        "faiss-flat",
        {"name": "hnswlib", "query": {"ef": [10, 40]}},
        {"name": "faiss-hnsw", "build": {"M": [8]}, "query": {"ef_search": [10]}},
    ]
    settings = {"build_threads": 1, "seeds": [4]}
    _, local = sweep(tmp_path, path, adapters, "process", **settings)
    _, remote = sweep(
        tmp_path, path, adapters, "dask", {"scheduler": cluster["address"]}, **settings
    )
    assert [o.status for o in remote] == ["ok"] * 3
    recalls = [
        load_frame(tmp_path / f"results-{e}")
        .sort_values(["label", "query_params"])["recall"]
        .tolist()
        for e in ("process", "dask")
    ]
    assert recalls[0] == recalls[1]
    # both read the dataset memory-mapped, and got the same values as the process executor
    assert all(read_result(o.path).run_info["dataset_mapped"] for o in [*local, *remote])
    hosts = {read_result(o.path).environment["dask_worker"] for o in remote}
    assert hosts <= {p for p in hosts if p.startswith("tcp://127.0.0.1:")} and hosts


def _busy_worker(workers, deadline: float):
    """The first dask worker process that has an annbench job running under it."""
    import psutil

    while time.monotonic() < deadline:
        for proc in workers:
            try:
                children = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            if any("annbench.run.worker" in " ".join(c.cmdline()) for c in children):
                return proc
        time.sleep(0.05)
    return None


def test_killing_a_worker_mid_sweep_loses_no_job_and_duplicates_none(
    tmp_path, cluster, make_dataset, test_adapters
):
    path = make_dataset()
    seconds = [2.0, 2.01, 2.02, 2.03, 2.04, 2.05]
    killed = {}

    def kill_one():
        victim = _busy_worker(cluster["workers"], time.monotonic() + 60)
        if victim is not None:
            os.kill(victim.pid, signal.SIGKILL)
            killed["pid"] = victim.pid

    killer = threading.Thread(target=kill_one)
    killer.start()
    jobs, outcomes = sweep(
        tmp_path,
        path,
        [{"name": "sleepy", "build": {"seconds": seconds}}],
        "dask",
        {"scheduler": cluster["address"]},
    )
    killer.join()
    assert killed, "no worker was caught running a job"
    assert [o.status for o in outcomes] == ["ok"] * len(seconds)
    files = result_files(tmp_path / "results-dask")
    assert sorted(f.stem for f in files) == sorted(job.run_id for job in jobs)
    assert not list((tmp_path / "results-dask").rglob("*.partial"))


def test_sharded_ground_truth_equals_single_machine(tmp_path, make_dataset):
    from distributed import Client, LocalCluster

    from annbench.datasets.groundtruth_sharded import shard_bounds, sharded_exact_knn
    from annbench.datasets.store import load_dataset

    for metric in ("euclidean", "angular", "ip"):
        path = make_dataset(
            f"gt-{metric}", generator="gauss", metric=metric, n=5000, dim=8, n_queries=40
        )
        assert shard_bounds(5000, 3) == [(0, 1667), (1667, 3333), (3333, 5000)]
        dataset = load_dataset(path)
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, dashboard_address=":0", processes=True
            ) as local,
            Client(local) as client,
        ):
            ids, distances, means, record = sharded_exact_knn(path, client, k=100, shards=3)
        assert np.array_equal(ids, dataset.neighbors), metric
        np.testing.assert_allclose(distances, dataset.distances, rtol=1e-6, atol=1e-6)
        # the shards' distance sums give the same mean distance as the one-machine pass
        assert record["mean_distance_over"] == "all"
        np.testing.assert_allclose(
            means, dataset.query_measures["mean_distance"], rtol=1e-5, atol=1e-6
        )


def _job_processes(run_id: str) -> list[int]:
    """Processes whose command line names the job (its guard and its worker)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
            except OSError:
                continue
            if run_id.encode() in cmdline and state != "Z":
                found.append(int(entry))
    return found


def _wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_a_cancelled_task_kills_its_jobs_process_tree(
    tmp_path, cluster, make_dataset, test_adapters
):
    from distributed import Client

    from annbench.run.executors.dask import RESOURCE, run_job_remotely

    experiment = parse_experiment(
        {
            "datasets": [str(make_dataset())],
            "timeout": 900,
            "adapters": [{"name": "sleepy", "build": {"seconds": [600]}}],
        }
    )
    (job,) = expand(experiment, tmp_path / "datasets")
    with Client(cluster["address"], timeout="20s") as client:
        future = client.submit(run_job_remotely, job.to_json(), resources={RESOURCE: 1}, pure=False)
        assert _wait_until(lambda: len(_job_processes(job.run_id)) >= 2, 60)
        client.cancel(future, force=True)
        assert _wait_until(lambda: not _job_processes(job.run_id), 15), _job_processes(job.run_id)
