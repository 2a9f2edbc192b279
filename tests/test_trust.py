"""Trust under faults and hostile input (issue 14): every process annbench starts dies with it,
names never leave their folders or collide, stored results are never lost or mixed, and bad
input is one line with exit status 2 that leaves every stored file as it was."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from annbench.store.results import result_files

MARK = "ANNBENCH_TEST_MARK"


# --- helpers ---------------------------------------------------------------------------------


def marked_processes(mark: str) -> list[int]:
    """Processes whose environment carries ``mark`` (everything a marked annbench started)."""
    found = []
    needle = f"{MARK}={mark}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry))
    return found


def wait_until(predicate, seconds: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def tree_digest(*folders: Path) -> str:
    """A checksum of every file (path and bytes) under ``folders``."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")) if Path(folder).exists() else []:
            digest.update(str(path).encode())
            if path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def annbench(*args, mark: str | None = None, **popen) -> subprocess.Popen:
    """The real command line in a process of its own (and a process group of its own)."""
    env = {**os.environ, "ANNBENCH_ALGORITHMS_PATH": str(Path(__file__).parent / "algorithms")}
    if mark:
        env[MARK] = mark
    return subprocess.Popen(
        [sys.executable, "-m", "annbench.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def stored_run(tmp_path: Path, cli, make_dataset, *, baseline: bool = False) -> Path:
    """A results folder holding one good faiss-flat run (and ``baseline.json`` beside it)."""
    spec = write_spec(
        tmp_path / "spec.yml",
        {"datasets": [str(make_dataset())], "repeats": 1, "adapters": ["faiss-flat"]},
    )
    results = tmp_path / "results"
    assert cli("--results-dir", results, "run", spec)[0] == 0
    if baseline:
        out = tmp_path / "baseline.json"
        assert cli("--results-dir", results, "baseline", "save", "--out", out)[0] == 0
    return results


def leftovers(results: Path) -> list[Path]:
    return [p for p in results.rglob("*") if p.name.endswith((".staging", ".partial", ".tmp"))]


# --- 1. process lifetime ---------------------------------------------------------------------


@pytest.fixture
def hanging_sweep(tmp_path, make_dataset):
    """A spec whose first job leaves a detached child behind and is mid-build for seconds, and
    whose second job hangs for a while: the moment to kill annbench."""
    dataset = make_dataset()
    spec = write_spec(
        tmp_path / "spec.yml",
        {
            "datasets": [str(dataset)],
            "repeats": 1,
            "timeout": 120,
            "adapters": [
                {"name": "spawner", "build": {"detach": [True], "seconds": [2.0]}},
                {"name": "sleepy", "build": {"seconds": [1.5]}},
            ],
        },
    )
    return spec, tmp_path / "results"


def _started_its_child(mark: str) -> bool:
    """annbench, guard, worker and the adapter's detached child are all up."""
    return len(marked_processes(mark)) >= 4


def _rerun_stores_every_job_once(spec: Path, results: Path) -> None:
    mark = uuid.uuid4().hex
    rerun = annbench("--results-dir", results, "run", spec, mark=mark)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    files = result_files(results)
    assert len(files) == 2 and len({f.parent.name for f in files}) == 2, files
    assert not leftovers(results)
    assert wait_until(lambda: not marked_processes(mark), 5), "the rerun left processes behind"


@pytest.mark.parametrize(
    "how",
    ["SIGKILL to annbench's process group", "SIGTERM to annbench alone"],
)
def test_killing_annbench_mid_job_leaves_no_process_and_a_rerun_completes(
    hanging_sweep, test_adapters, how
):
    spec, results = hanging_sweep
    mark = uuid.uuid4().hex
    proc = annbench("--results-dir", results, "run", spec, mark=mark)
    assert wait_until(lambda: _started_its_child(mark), 60), proc.communicate(timeout=5)
    if how.startswith("SIGKILL"):
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert wait_until(lambda: not marked_processes(mark), 5), (
        f"still running after {how}: {marked_processes(mark)}"
    )
    if how.startswith("SIGTERM"):
        assert proc.returncode == 128 + signal.SIGTERM
        assert err.strip().endswith("rerun the same command to resume"), err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not result_files(results)  # the job in flight stored nothing
    _rerun_stores_every_job_once(spec, results)


def test_an_adapter_that_leaves_a_child_behind_but_finishes_is_stored_as_good(
    tmp_path, make_dataset, test_adapters
):
    spec = write_spec(
        tmp_path / "spec.yml",
        {
            "datasets": [str(make_dataset())],
            "repeats": 1,
            "adapters": [{"name": "spawner", "build": {"detach": [True, False], "seconds": [0.0]}}],
        },
    )
    mark = uuid.uuid4().hex
    proc = annbench("--results-dir", tmp_path / "results", "run", spec, mark=mark)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.count(": ok, build") == 2, out  # no false "timeout" while the child lives on
    assert wait_until(lambda: not marked_processes(mark), 5), "the child outlived its job"


def test_the_guard_kills_what_the_worker_left_and_reports_the_worker_status(tmp_path):
    """The guard alone: a command that exits 3 after starting a detached sleeper."""
    mark = uuid.uuid4().hex
    script = (
        "import subprocess, sys; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
        "start_new_session=True); sys.exit(3)"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "annbench.run.executors.guard",
            "60",
            "--",
            sys.executable,
            "-c",
            script,
        ],
        stdin=subprocess.PIPE,  # the lifeline, held open
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, MARK: mark},
    )
    assert proc.wait(timeout=30) == 3  # decided by the exit, not by the sleeper's pipes
    err = proc.stderr.read()
    assert "killed 1 processes the worker left behind" in err
    assert err.strip().splitlines()[-1] == "annbench-guard: exit 3"
    proc.stdin.close()
    assert wait_until(lambda: not marked_processes(mark), 5)


def test_the_guard_enforces_the_deadline_on_its_own(tmp_path):
    mark = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "annbench.run.executors.guard", "1", "--", "sleep", "600"],
        stdin=subprocess.PIPE,  # held open: only the deadline can end it
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, MARK: mark},
    )
    started = time.monotonic()
    assert proc.wait(timeout=30) == 124
    assert time.monotonic() - started < 10
    assert "timeout" in proc.stderr.read()
    proc.stdin.close()
    assert wait_until(lambda: not marked_processes(mark), 5)


# --- 2. names used as paths ------------------------------------------------------------------

BAD_NAMES = ["../victim", "..", "", "a/b", "x.hdf5", "a b", ".hidden", "/tmp/abs", "a\nb"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_that_escape_or_collide_are_refused_and_touch_nothing(tmp_path, cli, name):
    sandbox = tmp_path / "sandbox"
    data, results = sandbox / "data", sandbox / "results"
    data.mkdir(parents=True)
    victim = tmp_path / "victim.hdf5"
    victim.write_text("precious")
    before = tree_digest(tmp_path)
    folders = ("--data-dir", data, "--results-dir", results)
    commands = [
        ("datasets", "make", name, "-g", "gauss", "-p", "n=50", "-p", "n_queries=5", "--force"),
        ("datasets", "fetch", "http://127.0.0.1:9/file.hdf5", "--name", name, "--force"),
        ("datasets", "import", name, str(tmp_path / "absent.npy"), "--force"),
        ("run", "--dataset", name),
    ]
    for command in commands:
        status, _, err = cli(*folders, *command)
        assert status == 2, (command, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert tree_digest(tmp_path) == before
    assert victim.read_text() == "precious"


def test_a_dataset_file_whose_name_is_not_a_name_is_refused(tmp_path, cli, make_dataset):
    odd = make_dataset("tiny")
    renamed = odd.with_name("a b.hdf5")
    odd.rename(renamed)
    spec = write_spec(
        tmp_path / "spec.yml", {"datasets": [str(renamed)], "adapters": ["faiss-flat"]}
    )
    status, _, err = cli("--results-dir", tmp_path / "results", "run", spec)
    assert status == 2 and "'a b'" in err and "rename" in err
    assert not (tmp_path / "results").exists() or not result_files(tmp_path / "results")


def _forge_dataset_name(path: Path, name: str) -> None:
    """Give a stored result the dataset name an older annbench would have accepted."""
    with h5py.File(path, "r+") as f:
        job = json.loads(f.attrs["job"])
        job["dataset"] = name
        f.attrs["job"] = json.dumps(job, sort_keys=True)


def test_legacy_names_that_once_shared_a_report_page_get_pages_of_their_own(
    tmp_path, cli, make_dataset
):
    """'a b' and 'a_b' mapped to one page before names were checked; results written then
    must still each get their own page, with their own data."""
    results = tmp_path / "results"
    for name, n_queries in (("first", 30), ("second", 40)):
        spec = write_spec(
            tmp_path / f"{name}.yml",
            {
                "datasets": [str(make_dataset(name, n_queries=n_queries))],
                "adapters": ["faiss-flat"],
            },
        )
        assert cli("--results-dir", results, "run", spec)[0] == 0
    for path, legacy in zip(sorted(result_files(results)), ["a b", "a_b"]):
        _forge_dataset_name(path, legacy)
    status, out, err = cli("--results-dir", results, "report", "--out", tmp_path / "site")
    assert status == 0, err
    pages = sorted((tmp_path / "site").glob("dataset-*.html"))
    assert len(pages) == 2
    headings = {}
    for page in pages:
        text = page.read_text()
        heading = text.split("<h1>")[1].split("</h1>")[0]
        headings[heading] = "30 queries" in text, "40 queries" in text
    # each legacy name has a page of its own, holding its own dataset's figures
    assert headings == {"a b": (True, False), "a_b": (False, True)}


# --- 3. stored results never lost, never mixed -----------------------------------------------


def test_a_rerun_killed_by_its_timeout_keeps_the_good_results(tmp_path, cli, make_dataset):
    spec = write_spec(
        tmp_path / "spec.yml",
        {"datasets": [str(make_dataset())], "repeats": 1, "adapters": ["faiss-flat", "hnswlib"]},
    )
    results = tmp_path / "results"
    assert cli("--results-dir", results, "run", spec)[0] == 0
    good = {path: path.read_bytes() for path in result_files(results)}
    status, out, err = cli("--results-dir", results, "run", spec, "--force", "--timeout", "0.01")
    assert status == 1, out + err  # every job failed, and the exit says so
    assert all(path.read_bytes() == data for path, data in good.items())
    status, out, err = cli("--results-dir", results, "results", "--format", "json")
    rows = json.loads(out)
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed"]
    assert {r["adapter"] for r in ok} == {"faiss-flat", "hnswlib"}
    assert len(failed) == 2 and all("the earlier ok result is kept" in r["error"] for r in failed)
    # a good rerun replaces the good result and clears the failure kept beside it
    assert cli("--results-dir", results, "run", spec, "--force")[0] == 0
    assert len(result_files(results)) == 2


def test_remaking_a_dataset_leaves_its_old_results_out_as_stale(tmp_path, cli):
    folders = ("--data-dir", tmp_path / "data", "--results-dir", tmp_path / "results")
    make = ("datasets", "make", "mine", "-g", "gauss", "-p", "n=300", "-p", "n_queries=20")
    assert cli(*folders, *make, "-p", "dim=8")[0] == 0
    spec = write_spec(tmp_path / "spec.yml", {"datasets": ["mine"], "adapters": ["faiss-flat"]})
    assert cli(*folders, "run", spec)[0] == 0
    status, out, err = cli(*folders, *make, "-p", "dim=8", "--seed", "1", "--force")
    assert status == 0 and "1 stored results of 'mine'" in err and "stale" in err
    assert cli(*folders, "run", spec)[0] == 0
    status, out, err = cli(*folders, "results", "--format", "json")
    assert status == 0 and "left out 1 stale results" in err
    rows = json.loads(out)
    assert len({r["run_id"] for r in rows}) == 1 and not any(r["stale"] for r in rows)
    status, out, _ = cli(*folders, "results", "--format", "json", "--include-stale")
    assert len({r["run_id"] for r in json.loads(out)}) == 2
    for command in (("plot",), ("report",)):
        status, _, err = cli(*folders, *command)
        assert status == 0 and "left out 1 stale results" in err, err


def test_leftover_staged_files_of_a_dead_sweep_are_cleared(tmp_path, cli, make_dataset):
    spec = write_spec(
        tmp_path / "spec.yml",
        {"datasets": [str(make_dataset())], "repeats": 1, "adapters": ["faiss-flat"]},
    )
    results = tmp_path / "results"
    folder = results / "tiny" / "faiss-flat"
    folder.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    (folder / f"0123456789abcdef.{int(dead.stdout)}.staging").write_bytes(b"half a file")
    assert cli("--results-dir", results, "run", spec)[0] == 0
    assert not leftovers(results) and len(result_files(results)) == 1


# --- 4./5. validation and one-line errors ----------------------------------------------------


def _one_line_refusal(cli, *args, contains: str = "") -> str:
    status, out, err = cli(*args)
    assert status == 2, (args, out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert contains in err, err
    return err


@pytest.mark.parametrize(
    "change,contains",
    [
        ({"adapters": [{"name": "hnswlib", "build": {"M": ["sixteen"]}}]}, "'M': 'sixteen'"),
        ({"adapters": [{"name": "hnswlib", "build": {"M": [1]}}]}, "'M': 1 is not an integer >= 2"),
        ({"adapters": [{"name": "hnswlib", "query": {"ef": []}}]}, "the list is empty"),
        ({"k": True}, "'k' must be an integer >= 1"),
        ({"timeout": 0}, "'timeout' must be a finite number"),
        ({"timeout": -5}, "'timeout' must be a finite number"),
        ({"timeout": float("nan")}, "'timeout' must be a finite number"),
        ({"warmup": -1}, "'warmup' must be an integer >= 0"),
        ({"repeats": 2.5}, "'repeats' must be an integer >= 1"),
        ({"orders": []}, "'orders': the list is empty"),
        ({"modes": ["fast"]}, "unknown mode 'fast'"),
        ({"datasets": ["a b"]}, "dataset name 'a b'"),
        ({"datasets": ["../up"]}, "dataset file ../up does not exist"),
    ],
)
def test_spec_values_are_checked_before_any_job(tmp_path, cli, make_dataset, change, contains):
    dataset = make_dataset()
    spec = {"datasets": [str(dataset)], "adapters": ["faiss-flat"], **change}
    path = write_spec(tmp_path / "spec.yml", spec)
    results = tmp_path / "results"
    before = tree_digest(dataset.parent)
    _one_line_refusal(cli, "--results-dir", results, "run", path, contains=contains)
    assert not results.exists() or not list(results.rglob("*.h5"))
    assert tree_digest(dataset.parent) == before


def test_duplicate_grid_values_run_once_with_a_warning(tmp_path, cli, make_dataset):
    spec = write_spec(
        tmp_path / "spec.yml",
        {
            "datasets": [str(make_dataset())],
            "repeats": 1,
            "seeds": [0, 0],
            "adapters": [{"name": "hnswlib", "build": {"M": [8, 8]}, "query": {"ef": [10, 10]}}],
        },
    )
    status, out, err = cli("--results-dir", tmp_path / "results", "run", spec)
    assert status == 0, err
    assert "'M': duplicate value 8 dropped" in err and "'seeds': duplicate value 0" in err
    assert out.startswith("1 jobs")
    assert len(result_files(tmp_path / "results")) == 1


def test_a_plan_of_thousands_of_jobs_needs_yes(tmp_path, cli, make_dataset):
    spec = write_spec(
        tmp_path / "spec.yml",
        {
            "datasets": [str(make_dataset())],
            "adapters": [{"name": "hnswlib", "build": {"M": list(range(2, 102))}}],
            "seeds": list(range(100)),
        },
    )
    err = _one_line_refusal(cli, "--results-dir", tmp_path / "r", "run", spec, contains="--yes")
    assert "10,000 jobs" in err and "up to" in err
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("*.h5"))


def _write_h5(path: Path, **arrays) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "euclidean"
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return path


@pytest.mark.parametrize(
    "problem,contains",
    [
        ("ids out of range", "outside the"),
        ("float ids", "not whole numbers"),
        ("text base", "not numbers"),
        ("dimensions differ", "dimension"),
    ],
)
def test_dataset_files_are_checked_when_loaded(tmp_path, cli, problem, contains):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 4)).astype(np.float32)
    queries = rng.standard_normal((5, 4)).astype(np.float32)
    neighbors = np.tile(np.arange(10), (5, 1))
    distances = np.sort(rng.random((5, 10)), axis=1)
    if problem == "ids out of range":
        neighbors[2, 3] = 50
    elif problem == "float ids":
        neighbors = neighbors + 0.5
    elif problem == "text base":
        base = np.array([["a"] * 4] * 50, dtype="S1")
    elif problem == "dimensions differ":
        queries = queries[:, :3]
    path = _write_h5(
        tmp_path / "bad.hdf5", train=base, test=queries, neighbors=neighbors, distances=distances
    )
    spec = write_spec(tmp_path / "spec.yml", {"datasets": [str(path)], "adapters": ["faiss-flat"]})
    _one_line_refusal(cli, "--results-dir", tmp_path / "r", "run", spec, contains=contains)
    _one_line_refusal(cli, "datasets", "info", path, contains=contains)


def test_unwritable_outputs_are_one_line(tmp_path, cli, make_dataset):
    results = stored_run(tmp_path, cli, make_dataset, baseline=True)
    baseline, spec = tmp_path / "baseline.json", tmp_path / "spec.yml"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    inside = blocker / "out"
    for command in (
        ("report", "--out", inside),
        ("plot", "--out", inside),
        ("results", "--out", inside / "table.txt"),
        ("results", "--format", "parquet", "--out", inside / "t.parquet"),
        ("baseline", "save", "--out", inside / "b.json"),
        ("check", "--baseline", baseline, "--markdown", inside / "summary.md"),
        ("check", "--baseline", baseline, "--junit", inside / "check.xml"),
    ):
        _one_line_refusal(cli, "--results-dir", results, *command, contains="cannot")
    _one_line_refusal(cli, "--results-dir", inside, "run", spec, contains="cannot")


@pytest.mark.parametrize(
    "damage",
    [
        lambda doc: doc["points"][0].update(recall="high"),
        lambda doc: doc["points"][0].update(recall=7),
        lambda doc: doc["points"][0]["key"].pop("adapter"),
        lambda doc: doc["frontiers"][0]["points"][0].update(qps=None),
        lambda doc: doc.update(points={"not": "a list"}),
    ],
)
def test_check_with_a_malformed_baseline_exits_2_not_1(tmp_path, cli, make_dataset, damage):
    results = stored_run(tmp_path, cli, make_dataset, baseline=True)
    baseline = tmp_path / "baseline.json"
    document = json.loads(baseline.read_text())
    damage(document)
    baseline.write_text(json.dumps(document))
    _one_line_refusal(cli, "--results-dir", results, "check", "--baseline", baseline)


def test_files_that_are_not_results_are_skipped_with_a_note(tmp_path, cli, make_dataset):
    results = stored_run(tmp_path, cli, make_dataset)
    stranger = results / "tiny" / "faiss-flat" / "stranger.h5"
    _write_h5(stranger, anything=np.zeros(3))
    status, out, err = cli("--results-dir", results, "results")
    assert status == 0 and "not an annbench result" in err and "faiss-flat" in out


@pytest.mark.parametrize(
    "content,contains",
    [
        (b"\xff\xfe datasets: [x]", "not UTF-8"),
        (b"datasets: [x\nadapters: [faiss-flat]\n", "line 2, column"),
        (None, "is a folder"),
    ],
)
def test_spec_files_that_cannot_be_read_are_one_line(tmp_path, cli, content, contains):
    path = tmp_path / "spec.yml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    _one_line_refusal(cli, "--results-dir", tmp_path / "r", "run", path, contains=contains)


def test_fetch_with_an_unknown_scheme_and_a_generator_past_memory_are_one_line(tmp_path, cli):
    data = ("--data-dir", tmp_path / "data")
    _one_line_refusal(cli, *data, "datasets", "fetch", "ftp://127.0.0.1/x.hdf5", contains="ftp")
    _one_line_refusal(
        cli,
        *data,
        "datasets",
        "make",
        "huge",
        "-g",
        "gauss",
        "-p",
        "n=100000000000",
        "-p",
        "dim=1024",
        contains="GiB",
    )
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").iterdir())


# --- 6. honest figures -----------------------------------------------------------------------


def test_the_threads_a_run_used_are_recorded_when_the_spec_leaves_them_unset(
    tmp_path, make_dataset
):
    from annbench.run.plan import expand, parse_experiment
    from annbench.run.runner import run_sweep
    from annbench.store.frame import load_frame
    from annbench.store.results import read_result

    experiment = parse_experiment(
        {
            "datasets": [str(make_dataset())],
            "repeats": 1,
            "build_threads": [None, 1],
            "adapters": ["faiss-flat"],
        }
    )
    outcomes = run_sweep(expand(experiment, tmp_path), tmp_path / "results")
    frame = load_frame(tmp_path / "results")
    unset = frame[frame["build_threads"].isna()].iloc[0]
    # what the worker's own process ran with, from the manifest it stored beside the figures:
    # faiss's OpenMP pool (the CPUs the job may use, unless OMP_NUM_THREADS says otherwise)
    (path,) = [o.path for o in outcomes if o.job.build_threads is None]
    manifest = read_result(path).environment
    pools = [p["num_threads"] for p in manifest["thread_pools"] if p["user_api"] == "openmp"]
    assert pools, manifest["thread_pools"]
    assert unset["build_threads_used"] == max(pools) >= 1
    assert unset["search_threads_used"] == max(pools)
    if "OMP_NUM_THREADS" not in manifest["thread_env"]:
        assert max(pools) <= len(manifest["cpu_affinity"])
    assert frame[frame["build_threads"] == 1].iloc[0]["build_threads_used"] == 1


# --- 7. discoverable command line ------------------------------------------------------------


def test_every_generator_is_listed_with_its_parameters(cli):
    from annbench.datasets.synthetic import GENERATORS, generator_params

    status, out, _ = cli("datasets", "generators")
    assert status == 0
    for name in GENERATORS:
        assert f"{name}:" in out
        for param, default in generator_params(name).items():
            assert f"-p {param}=...  {type(default).__name__}, default {default}" in out
    status, out, _ = cli("datasets", "make", "--help")
    assert status == 0 and all(f"{name}: n=" in out for name in GENERATORS)


@pytest.mark.parametrize(
    "group", [(), ("datasets",), ("adapters",), ("baseline",), ("experiment",), ("images",)]
)
def test_a_group_without_a_command_prints_its_help_and_exits_0(cli, group):
    status, out, err = cli(*group)
    assert status == 0 and out.startswith("Usage:") and "Commands:" in out and not err


# --- 8. the gate fails on absence ------------------------------------------------------------


def test_a_baseline_adapter_missing_now_fails_the_gate_unless_allowed(tmp_path, cli, make_dataset):
    dataset = make_dataset()
    both = write_spec(
        tmp_path / "both.yml",
        {"datasets": [str(dataset)], "repeats": 1, "adapters": ["faiss-flat", "hnswlib"]},
    )
    one = write_spec(
        tmp_path / "one.yml", {"datasets": [str(dataset)], "repeats": 1, "adapters": ["faiss-flat"]}
    )
    assert cli("--results-dir", tmp_path / "base", "run", both)[0] == 0
    baseline = tmp_path / "baseline.json"
    assert cli("--results-dir", tmp_path / "base", "baseline", "save", "--out", baseline)[0] == 0
    assert cli("--results-dir", tmp_path / "now", "run", one)[0] == 0
    md, xml = tmp_path / "summary.md", tmp_path / "check.xml"
    gate = ("--results-dir", tmp_path / "now", "check", "--baseline", baseline)
    status, out, err = cli(*gate, "--markdown", md, "--junit", xml, "--max-qps-drop", "99%")
    assert status == 1, out + err
    missing = [line for line in out.splitlines() if line.startswith("MISSING")]
    assert missing and all("hnswlib" in line for line in missing)
    import xml.etree.ElementTree as ET

    suite = ET.parse(xml).getroot()
    summary = out.strip().splitlines()[-1]
    checks = int(summary.split()[0])
    assert int(suite.get("tests")) == checks == len(list(suite))
    assert int(suite.get("failures")) == len(missing)
    assert f"{checks} checks" in md.read_text() and "hnswlib" in md.read_text()
    status, out, err = cli(*gate, "--allow-missing", "hnswlib", "--max-qps-drop", "99%")
    assert status == 0, out + err
    assert f"{len(missing)} skipped" in out
    _one_line_refusal(cli, *gate, "--allow-missing", "nope", contains="not in the baseline")


def test_the_example_workflow_installs_every_library_its_baseline_gates():
    """On a clean runner the example workflow must not pass the gate by absence: every adapter
    the committed baseline gates has its library among what the workflow installs."""
    import re

    import tomllib

    from annbench.adapters.registry import discover

    root = Path(__file__).resolve().parents[1]
    workflow = (root / ".github" / "workflows" / "annbench-check.yml").read_text()
    extras = re.search(r"pip install -e '\.\[([a-z,]+)\]'", workflow)
    assert extras, "the workflow installs annbench with extras"
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras[1].split(","):
        wanted += project["optional-dependencies"][extra]
    installed = {re.split(r"[<>=\[ ]", requirement)[0].lower() for requirement in wanted}
    baseline = json.loads((root / "benchmarks" / "baseline-smoke.json").read_text())
    gated = {point["key"]["adapter"] for point in baseline["points"]}
    specs = discover()
    builds_envs = "annbench adapters env" in workflow
    missing = {
        name: specs[name].library
        for name in gated
        if specs[name].library  # noop wraps no library
        and not (specs[name].environment and builds_envs)  # its own environment's
        and specs[name].library not in installed
    }
    assert not missing, f"the workflow does not install what these adapters need: {missing}"
    assert builds_envs or not any(specs[name].environment for name in gated)
