"""Containment: a hanging, crashing or lying adapter is a failed run, and the sweep goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame
from annbench.store.results import result_files


def run(tmp_path, dataset, adapters, executor="process", **options):
    experiment = parse_experiment(
        {"datasets": [str(dataset)], "adapters": adapters, "repeats": 1, **options}
    )
    jobs = expand(experiment, tmp_path / "datasets")
    return run_sweep(jobs, tmp_path / "results", executor=executor)


def test_job_past_its_timeout_is_killed_recorded_and_the_sweep_goes_on(
    tmp_path, make_dataset, test_adapters
):
    path = make_dataset()
    started = time.monotonic()
    outcomes = run(
        tmp_path, path, [{"name": "sleepy", "build": {"seconds": [600]}}, "faiss-flat"], timeout=2
    )
    assert time.monotonic() - started < 60  # the 600 s build did not run to the end
    assert [o.status for o in outcomes] == ["failed", "ok"]
    assert outcomes[0].error.startswith("timeout: killed after 2 s")
    frame = load_frame(tmp_path / "results")
    failed = frame[frame["adapter"] == "sleepy"].iloc[0]
    assert failed["status"] == "failed" and "timeout" in failed["error"]
    assert not list((tmp_path / "results").rglob("*.partial"))


@pytest.mark.parametrize("executor", ["process", "inline"])
def test_adapter_that_raises_is_a_failed_run_with_its_reason(
    tmp_path, make_dataset, test_adapters, executor
):
    outcomes = run(tmp_path, make_dataset(), ["crashy", "faiss-flat"], executor=executor)
    assert [o.status for o in outcomes] == ["failed", "ok"]
    assert outcomes[0].error == "RuntimeError: index construction exploded"


def test_adapter_that_kills_its_process_is_a_failed_run(tmp_path, make_dataset, test_adapters):
    outcomes = run(
        tmp_path, make_dataset(), [{"name": "crashy", "build": {"how": ["segfault"]}}, "faiss-flat"]
    )
    assert [o.status for o in outcomes] == ["failed", "ok"]
    assert "SIGSEGV" in outcomes[0].error


@pytest.mark.parametrize(
    "lie,reason",
    [
        ("out_of_range", "outside"),
        ("repeated", "repeated id"),
        ("wrong_shape", "expected"),
        ("nan_distance", "NaN or infinite distance for query 0"),
        ("descending", "do not ascend for query 0"),
    ],
)
def test_malformed_answers_are_refused(tmp_path, make_dataset, test_adapters, lie, reason):
    outcomes = run(
        tmp_path, make_dataset(), [{"name": "liar", "query": {"lie": [lie]}}], executor="inline"
    )
    assert outcomes[0].status == "failed"
    assert "AdapterError" in outcomes[0].error and reason in outcomes[0].error


def test_tied_distances_count_as_ascending(tmp_path, make_dataset, test_adapters):
    outcomes = run(
        tmp_path, make_dataset(), [{"name": "liar", "query": {"lie": ["ties"]}}], executor="inline"
    )
    assert outcomes[0].status == "ok", outcomes[0].error


def test_claimed_distances_are_not_trusted(tmp_path, make_dataset, test_adapters):
    run(
        tmp_path,
        make_dataset(),
        [{"name": "liar", "query": {"lie": ["perfect_distances"]}}],
        executor="inline",
        k=10,
    )
    frame = load_frame(tmp_path / "results")
    # The liar claims distance 0 for ids 0..9; their true distances are recomputed.
    assert frame["recall_tolerant"].iloc[0] < 0.5
    assert frame["recall"].iloc[0] < 0.5


def _result_mtimes(results):
    return {path.name: path.stat().st_mtime_ns for path in result_files(results)}


def test_interrupted_sweep_resumes_without_recomputing_finished_jobs(
    tmp_path, make_dataset, test_adapters
):
    path = make_dataset()
    spec = tmp_path / "spec.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "datasets": [str(path)],
                "repeats": 1,
                "adapters": [
                    # 2 s each: a busy machine that polls late still interrupts mid-sweep
                    {"name": "sleepy", "build": {"seconds": [2.0, 2.01, 2.02, 2.03, 2.04]}}
                ],
            }
        )
    )
    results = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "annbench.cli",
        "--results-dir",
        str(results),
        "run",
        str(spec),
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # as a terminal has it: a shell running this suite in the background ignores SIGINT
        # for its children, and Python then installs no KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not result_files(results) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    finished = _result_mtimes(results)
    assert 1 <= len(finished) < 5
    assert not list(results.rglob("*.partial"))

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.count("already stored, skipped") == len(finished)
    after = _result_mtimes(results)
    assert len(after) == 5
    assert all(after[name] == mtime for name, mtime in finished.items())


def test_a_sweep_whose_every_run_fails_reports_them_without_a_traceback(
    tmp_path, make_dataset, test_adapters, cli
):
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump({"datasets": [str(make_dataset())], "adapters": ["crashy"]}))
    results = tmp_path / "results"
    status, out, err = cli("--results-dir", results, "run", spec, "--executor", "inline")
    assert status == 1 and "Traceback" not in err, err  # 1: a job failed (CI must know)
    assert "index construction exploded" in out and "1 of 1 jobs failed" in err
    status, out, err = cli("--results-dir", results, "results", "--format", "json")
    assert status == 0 and '"status":"failed"' in out.replace(" ", ""), out + err
