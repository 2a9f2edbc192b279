"""The dask executor places jobs by the threads they ask for, pins co-located jobs to CPUs of
their own, refuses what no worker can hold, and fetches a dataset by URL once per machine: a
real `dask scheduler` and `dask worker` on 127.0.0.1, started here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
import yaml

from annbench.errors import UserError
from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.run.threads import threads_needed
from annbench.store.jobs import Job
from annbench.store.results import read_result, result_files
from tests.test_dask import DASK, _free_port, _wait_for_workers

pytest.importorskip("distributed")


def start_cluster(worker_args: list[str], env: dict[str, str] | None = None):
    """A scheduler and one worker on 127.0.0.1: (address, processes)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    worker = subprocess.Popen(
        [DASK, "worker", address, "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"]
        + worker_args,
        env={**os.environ, **(env or {})},
        **quiet,
    )
    return address, [worker, scheduler]


def stop(processes) -> None:
    for proc in processes:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def two_threads(tmp_path_factory):
    """One worker offering 2 threads as 2 annbench resources, with its own data cache."""
    cache = tmp_path_factory.mktemp("cache")
    address, processes = start_cluster(
        ["--nthreads", "2", "--resources", "annbench=2"],
        env={"ANNBENCH_DATA_CACHE": str(cache)},
    )
    try:
        _wait_for_workers(address, 1)
        yield {"address": address, "cache": cache}
    finally:
        stop(processes)


def sleepy_sweep(tmp_path, dataset, seconds, threads, address, **options):
    experiment = parse_experiment(
        {
            "datasets": [str(dataset)],
            "adapters": [{"name": "sleepy", "build": {"seconds": seconds}}],
            "repeats": 1,
            "build_threads": threads,
            "search_threads": [1],
        }
    )
    jobs = expand(experiment, tmp_path / "datasets")
    outcomes = run_sweep(
        jobs,
        tmp_path / "results",
        executor="dask",
        options={"scheduler": address, **options},
        force=True,
    )
    return [read_result(o.path) for o in outcomes]


def _interval(result) -> tuple[int, int]:
    timeline = result.run_info["timeline_ns"]
    return timeline["build_start"], timeline["build_end"]


def test_threads_needed_takes_the_most_a_job_keeps_busy():
    job = Job(
        *["d", "d.hdf5", "h", "euclidean", "a", "a.py", "A", "1"],
        build_params={},
        query_params=[{}],
        k=10,
    )
    assert threads_needed(job, 8) == 8  # search threads unset: the whole worker
    job = replace(job, build_threads=2, search_threads=[1, 3])
    assert threads_needed(job, 8) == 3
    assert threads_needed(replace(job, clients=[1, 6]), 8) == 6
    assert threads_needed(replace(job, build_threads=None), 5) == 5


def test_two_one_thread_jobs_share_a_worker_on_cpus_of_their_own(
    tmp_path, two_threads, make_dataset, test_adapters
):
    results = sleepy_sweep(tmp_path, make_dataset(), [1.5, 1.51], [1], two_threads["address"])
    assert [r.status for r in results] == ["ok", "ok"]
    (a_start, a_end), (b_start, b_end) = map(_interval, results)
    assert a_start < b_end and b_start < a_end  # they ran at the same time
    cpus = [r.environment["cpu_affinity"] for r in results]
    assert [len(c) for c in cpus] == [1, 1] and cpus[0] != cpus[1]
    assert [r.run_info["cpus"] for r in results] == cpus
    assert all(r.run_info["dataset_mapped"] for r in results)


def test_a_job_that_takes_the_whole_worker_runs_alone(
    tmp_path, two_threads, make_dataset, test_adapters
):
    results = sleepy_sweep(tmp_path, make_dataset(), [1.0, 1.01], [2], two_threads["address"])
    assert [r.status for r in results] == ["ok", "ok"]
    (a_start, a_end), (b_start, b_end) = sorted(map(_interval, results))
    assert a_end <= b_start
    assert [len(r.environment["cpu_affinity"]) for r in results] == [2, 2]


def test_a_job_too_big_for_every_worker_is_refused_before_any_submit(
    tmp_path, two_threads, make_dataset, test_adapters, cli
):
    from distributed import Client

    spec = tmp_path / "spec.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "datasets": [str(make_dataset())],
                "adapters": [{"name": "sleepy", "build": {"seconds": [0]}}],
                "build_threads": [4],
                "search_threads": [1],
            }
        )
    )
    results = tmp_path / "results"
    status, out, err = cli(
        "--results-dir", results, "run", spec, "--executor", "dask", "--scheduler",
        two_threads["address"],
    )  # fmt: skip
    assert status == 2
    assert err.count("\n") == 1
    assert "needs 4 threads; the largest worker offers 2" in err
    assert "--resources annbench=N" in err
    assert not result_files(results)
    with Client(two_threads["address"], timeout="20s") as client:
        tasks = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks))
    assert not [key for key in tasks if "annbench" in str(key)]


def test_data_by_url_is_fetched_once_per_machine(
    tmp_path, two_threads, make_dataset, test_adapters
):
    path = make_dataset("shared")
    remote = tmp_path / "remote"
    remote.mkdir()
    shutil.copy(path, remote / path.name)
    for old in two_threads["cache"].iterdir():
        old.unlink()
    results = sleepy_sweep(
        tmp_path,
        path,
        [0.5, 0.51, 0.52, 0.53],
        [1],
        two_threads["address"],
        data_url=(remote.as_uri()),
    )
    assert [r.status for r in results] == ["ok"] * 4
    assert sorted(r.run_info["data_fetched"] for r in results) == [False, False, False, True]
    files = list(two_threads["cache"].iterdir())
    copies = [p for p in files if not p.name.endswith((".lock", ".sha256"))]
    assert len(copies) == 1 and copies[0].read_bytes() == path.read_bytes()
    assert copies[0].with_name(copies[0].name + ".sha256") in files  # hashed once, kept
    # the results name the file the run was planned with, not the worker's copy
    assert {r.job.dataset_path for r in results} == {str(path.resolve())}


def test_a_url_that_holds_other_data_is_a_failed_run(
    tmp_path, two_threads, make_dataset, test_adapters
):
    path = make_dataset("planned")
    remote = tmp_path / "remote"
    remote.mkdir()
    shutil.copy(make_dataset("other", seed=1), remote / path.name)
    results = sleepy_sweep(
        tmp_path, path, [0], [1], two_threads["address"], data_url=remote.as_uri()
    )
    assert [r.status for r in results] == ["failed"]
    assert "content hash differs" in results[0].error


def test_a_cluster_without_annbench_workers_fails_fast(tmp_path, make_dataset, test_adapters):
    address, processes = start_cluster(["--nthreads", "1"])
    try:
        _wait_for_workers(address, 1)
        with pytest.raises(UserError, match="offers the 'annbench' resource"):
            sleepy_sweep(tmp_path, make_dataset(), [0], [1], address)
    finally:
        stop(processes)


def test_the_guard_pins_the_job_it_starts(tmp_path):
    probe = "import os; print(sorted(os.sched_getaffinity(0)))"
    cpu = max(os.sched_getaffinity(0))
    guard = [sys.executable, "-m", "annbench.run.executors.guard", "30", "--cpus", str(cpu)]
    # standard input stays open while the job runs: it is the guard's lifeline
    with subprocess.Popen(
        [*guard, "--", sys.executable, "-c", probe],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        assert proc.stdout.read().strip() == f"[{cpu}]"


def test_data_url_needs_the_dask_executor(cli, tmp_path, make_dataset):
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump({"datasets": [str(make_dataset())], "adapters": ["faiss-flat"]}))
    status, _, err = cli("--results-dir", tmp_path / "r", "run", spec, "--data-url", "file:///x")
    assert status == 2 and "--data-url apply to --executor dask" in err


def test_running_jobs_hold_disjoint_cpus_machine_wide():
    from annbench.run.executors.pinning import cpus_taken

    cpus = os.sched_getaffinity(0)
    probe = (
        "import os; from annbench.run.executors.pinning import cpus_taken\n"
        "with cpus_taken(1, 1) as (cpus, why): print(sorted(cpus), why)"
    )
    with cpus_taken(1, 1) as (first, _):
        with cpus_taken(len(cpus) - 1, len(cpus)) as (rest, _):
            assert first and rest and not first & rest and first | rest == cpus
            # another process on the machine (a second Dask worker) finds none free
            other = subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, check=True
            )
            assert other.stdout.startswith("[] fewer than 1 of the machine's CPUs were free")
        with cpus_taken(1, 1) as (again, _):
            assert again and not again & first
    with cpus_taken(1, len(cpus) + 1) as (none, why):
        assert not none and why == f"the worker offers {len(cpus) + 1} threads on {len(cpus)} CPUs"


def test_lock_folder_and_files_are_shared_by_every_user(tmp_path, monkeypatch):
    from annbench.run.executors import pinning

    monkeypatch.setattr(pinning, "lock_folder", lambda: tmp_path / "cpus")
    with pinning.cpus_taken(1, 1) as (cpus, why):
        assert cpus and not why
        assert (tmp_path / "cpus").stat().st_mode & 0o7777 == 0o1777
        locks = list((tmp_path / "cpus").iterdir())
        assert locks and all(p.stat().st_mode & 0o777 == 0o666 for p in locks)


def test_the_cache_hashes_the_copy_not_the_hash_it_claims(tmp_path, monkeypatch, make_dataset):
    """A download damaged inside ``train`` keeps the content hash written in its attributes;
    the cache hashes the vectors themselves, once, and refuses it."""
    import h5py

    from annbench.datasets.store import dataset_hash
    from annbench.run.executors import data_cache

    monkeypatch.setenv(data_cache.CACHE_ENV, str(tmp_path / "cache"))
    path = make_dataset("cached")
    expected = dataset_hash(path)
    remote = tmp_path / "remote"
    remote.mkdir()
    shutil.copy(path, remote / path.name)
    url = (remote / path.name).as_uri()
    first, fetched = data_cache.local_copy(url, expected)
    again, fetched_again = data_cache.local_copy(url, expected)
    assert (fetched, fetched_again) == (True, False) and first == again
    with h5py.File(remote / path.name, "r") as f:
        offset = f["train"].id.get_offset()
    with open(remote / path.name, "r+b") as f:  # one float of train changed, attrs untouched
        f.seek(offset)
        f.write(b"\x01\x02\x03\x04")
    assert dataset_hash(remote / path.name) == expected  # the file still claims the hash
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(UserError, match="content hash differs"):
        data_cache.local_copy(url, expected)
    assert not [p for p in (tmp_path / "cache").iterdir() if "partial" in p.name]
