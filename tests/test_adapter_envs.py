"""An adapter whose library pins clash with the main environment runs in a virtual
environment of its own: `annbench adapters env NAME` builds it from the requirements file
beside the spec, the process executor runs the adapter's worker with its interpreter, and
what cannot work (an environment not built, the inline executor, a requirements file pip
cannot satisfy) is one line with exit status 2."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from annbench.store.frame import load_frame
from annbench.store.results import read_result, result_files

from .conftest import EXACT_ADAPTER as ADAPTER
from .test_cli import assert_one_line_error

# a numpy the main environment does not have: the worker's numpy proves which Python ran it
PINNED_NUMPY = "2.3.5"
REQUIREMENTS = f"numpy=={PINNED_NUMPY}\nh5py\npsutil\nthreadpoolctl\npyyaml\n"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """An exact adapter whose spec names a requirements file pinning another numpy."""
    root = tmp_path_factory.mktemp("envs")
    folder = root / "algos" / "toy"
    folder.mkdir(parents=True)
    (folder / "spec.yml").write_text(
        "name: toy\nlibrary: numpy\nmodule: adapter.py\nclass: Exact\nmetrics: [euclidean]\n"
        "exact: true\nquery: {}\nenvironment: requirements.txt\n"
    )
    (folder / "adapter.py").write_text(ADAPTER)
    (folder / "requirements.txt").write_text(REQUIREMENTS)
    return root


@pytest.fixture
def env_setting(toy, monkeypatch):
    monkeypatch.setenv("ANNBENCH_ALGORITHMS_PATH", str(toy / "algos"))
    monkeypatch.setenv("ANNBENCH_ENVS", str(toy / "envs"))
    return toy


def experiment(tmp_path, dataset) -> str:
    spec = tmp_path / "exp.yml"
    spec.write_text(f"datasets: [{dataset}]\nk: 10\nrepeats: 1\nadapters: [toy]\n")
    return str(spec)


def test_an_environment_not_built_is_a_reason_and_a_one_line_refusal(
    env_setting, cli, make_dataset, tmp_path, monkeypatch
):
    monkeypatch.setenv("ANNBENCH_ENVS", str(tmp_path / "no-envs-yet"))
    status, out, _ = cli("adapters", "list")
    line = next(line for line in out.splitlines() if line.startswith("toy "))
    assert "skipped: its environment is not built (run `annbench adapters env toy`)" in line
    dataset = make_dataset()
    result = cli("--data-dir", dataset.parent, "run", experiment(tmp_path, dataset))
    assert_one_line_error(result, "adapter toy cannot run here", "annbench adapters env toy")


def test_the_worker_runs_under_the_adapters_own_interpreter(
    env_setting, cli, make_dataset, tmp_path
):
    status, out, err = cli("adapters", "env", "toy")
    assert status == 0, err
    assert "environment ready" in out
    status, out, _ = cli("adapters", "list", "--json")
    row = next(row for row in json.loads(out) if row["name"] == "toy")
    assert row["available"] and row["version"] == PINNED_NUMPY != np.__version__

    dataset = make_dataset()
    results = tmp_path / "results"
    status, out, err = cli(
        "--data-dir", dataset.parent, "--results-dir", results, "run", experiment(tmp_path, dataset)
    )
    assert status == 0, out + err
    (path,) = result_files(results)
    result = read_result(path)
    assert result.status == "ok"
    assert result.job.adapter_version == PINNED_NUMPY
    assert result.environment["packages"]["numpy"] == PINNED_NUMPY
    assert result.environment["python_executable"].startswith(str(env_setting / "envs" / "py3."))
    frame = load_frame(results)
    assert frame["recall"].tolist() == [1.0]  # the exact adapter, measured there


def test_the_inline_executor_refuses_an_adapter_with_its_own_environment(
    env_setting, cli, make_dataset, tmp_path
):
    cli("adapters", "env", "toy")
    dataset = make_dataset()
    result = cli(
        "--data-dir",
        dataset.parent,
        "--results-dir",
        tmp_path / "results",
        "run",
        "--executor",
        "inline",
        experiment(tmp_path, dataset),
    )
    assert_one_line_error(result, "toy runs in an environment of its own", "--executor process")


def test_a_requirements_file_pip_cannot_satisfy_is_one_line_and_leaves_nothing(
    env_setting, cli, tmp_path, monkeypatch
):
    folder = tmp_path / "algos" / "unmet"
    folder.mkdir(parents=True)
    (folder / "spec.yml").write_text(
        "name: unmet\nmodule: adapter.py\nclass: Exact\nmetrics: [euclidean]\n"
        "environment: requirements.txt\n"
    )
    (folder / "adapter.py").write_text(ADAPTER)
    (folder / "requirements.txt").write_text("annbench-no-such-package==0.0.1\n")
    monkeypatch.setenv("ANNBENCH_ALGORITHMS_PATH", str(tmp_path / "algos"))
    monkeypatch.setenv("ANNBENCH_ENVS", str(tmp_path / "envs"))
    result = cli("adapters", "env", "unmet")
    assert_one_line_error(
        result, "unmet: building its environment failed", "No matching distribution"
    )
    assert not (tmp_path / "envs").exists() or not any((tmp_path / "envs").iterdir())


def test_a_job_whose_environment_is_missing_where_it_runs_fails_with_the_command(
    env_setting, make_dataset, tmp_path, monkeypatch
):
    """Planned on a machine with the environment, run on one without (a cluster worker):
    the run is failed with the command to build it, and the sweep goes on."""
    from annbench.adapters.envs import build_env
    from annbench.adapters.registry import get_adapter
    from annbench.run.plan import expand, read_experiment
    from annbench.run.runner import run_sweep

    build_env(get_adapter("toy"), echo=lambda _: None)
    dataset = make_dataset()
    jobs = expand(read_experiment(experiment(tmp_path, dataset)), dataset.parent)
    monkeypatch.setenv("ANNBENCH_ENVS", str(tmp_path / "elsewhere"))
    moved = [dataclasses.replace(job, python=str(tmp_path / "gone" / "x" / "bin" / "python"))
             for job in jobs]  # fmt: skip
    (outcome,) = run_sweep(moved, tmp_path / "results")
    assert outcome.status == "failed"
    assert "is missing on this machine; run `annbench adapters env toy` here" in outcome.error


def test_a_cluster_worker_finds_the_environment_under_its_own_root(env_setting, tmp_path):
    """A worker whose home differs from the planner's finds the environment by its name."""
    from annbench.adapters.envs import build_env
    from annbench.adapters.registry import get_adapter
    from annbench.run.executors.process import local_python

    python = build_env(get_adapter("toy"), echo=lambda _: None)
    planned = tmp_path / "planner-home" / python.parents[1].name / "bin" / "python"
    assert local_python(str(planned)) == str(python)
    assert local_python(str(tmp_path / "nowhere" / "py3.11-0" / "bin" / "python")) == ""


def test_the_diskann_adapters_share_one_environment():
    """Their requirements files are identical (each Dockerfile needs its own copy), so one
    environment serves both."""
    from annbench.adapters.envs import env_name
    from annbench.adapters.registry import discover

    specs = discover()
    assert env_name(specs["diskann"]) == env_name(specs["diskann-dynamic"])


def test_an_adapter_without_an_environment_is_refused_by_adapters_env(cli):
    result = cli("adapters", "env", "hnswlib")
    assert_one_line_error(result, "hnswlib runs in the main environment")


def test_diskann_dynamic_streams_a_runbook_in_its_environment(make_dataset, tmp_path):
    """The real case: DiskANN (numpy 1.25) inserts, deletes and searches a sliding-window
    runbook through the process executor, every step measured, none failed; the worker ran
    under its environment's interpreter."""
    from annbench.run.plan import expand, parse_experiment
    from annbench.run.runner import run_sweep

    from .conftest import available

    spec = available("diskann-dynamic")
    path = make_dataset("flow", n=3000, n_queries=40)
    experiment = parse_experiment(
        {
            "datasets": [str(path)],
            "adapters": [{"name": "diskann-dynamic", "query": {"complexity": [80]}}],
            "k": 10,
            "repeats": 1,
            "warmup": 0,
            "build_threads": [1],
            "runbooks": [{"generator": "sliding-window", "steps": 4, "window": 2}],
        }
    )
    jobs = expand(experiment, path.parent)
    assert [job.python for job in jobs] == [spec.python]
    outcomes = run_sweep(jobs, tmp_path / "r")
    assert [o.status for o in outcomes] == ["ok"], [o.error for o in outcomes]
    frame = load_frame(tmp_path / "r")
    assert sorted(frame["step"].dropna().unique()) == [2, 4, 6, 8]
    assert frame["recall"].min() >= 0.9  # against each step's exact truth, deletes included
    (result,) = result_files(tmp_path / "r")
    assert read_result(result).environment["packages"]["numpy"].startswith("1.25")
