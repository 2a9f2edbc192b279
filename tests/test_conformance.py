"""Every registered adapter passes the conformance suite; a plugin package installed with pip
is discovered and runs; `annbench adapters new` writes an adapter that conforms."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import yaml

from annbench.adapters.registry import discover
from annbench.run.conformance import conformance_problems, problems_where_it_runs

from .conftest import TEST_ALGORITHMS, available

SLOW = {"pynndescent"}  # numba compiles on first use: about a minute


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(discover())],
)
def test_registered_adapter_conforms(name):
    assert problems_where_it_runs(available(name)) == []


@pytest.fixture
def postgres_on_localhost(tmp_path):
    """A PostgreSQL server with pgvector listening on 127.0.0.1 (TCP): pgserver's binaries,
    initialised by pgserver (which also picks an unprivileged user when run as root), then
    restarted on a free local port. Yields its DSN."""
    pgserver = pytest.importorskip("pgserver")

    pgdata = tmp_path / "pgdata"
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    user = server.system_user
    server.cleanup()  # stops the socket-only server that pgserver started
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = f"-h 127.0.0.1 -p {port} -k ''"
    pgserver.pg_ctl(
        ["-w", "-o", options, "-l", str(pgdata / "tcp.log"), "start"], pgdata=pgdata, user=user
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


def test_pgvector_runs_against_a_server_the_test_starts(
    postgres_on_localhost, monkeypatch, tmp_path, make_dataset
):
    import psycopg

    monkeypatch.setenv("ANNBENCH_PGVECTOR_DSN", postgres_on_localhost)
    spec = discover()["pgvector"]
    assert conformance_problems(spec) == []
    from annbench.run.plan import expand, parse_experiment
    from annbench.run.runner import run_sweep
    from annbench.store.frame import load_frame

    experiment = parse_experiment(
        {
            "datasets": [str(make_dataset())],
            "repeats": 1,
            "adapters": [{"name": "pgvector", "query": {"ef_search": [10, 100]}}],
        }
    )
    run_sweep(expand(experiment, tmp_path), tmp_path / "results", executor="inline")
    recall = load_frame(tmp_path / "results").sort_values("query.ef_search")["recall"]
    assert recall.iloc[-1] >= recall.iloc[0] and recall.iloc[-1] > 0.9
    with psycopg.connect(postgres_on_localhost) as connection:  # the adapter used this server
        address = connection.execute("SELECT inet_server_addr()::text").fetchone()[0]
        version = connection.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    assert address.startswith("127.0.0.1") and version is not None


@pytest.mark.parametrize(
    "name,fragment",
    [
        ("liar", "outside"),
        ("crashy", "exploded"),
        ("fickle", "answer differently"),
        ("sieve", "filter"),
        ("forgetful", "after delete"),
    ],
)
def test_misbehaving_adapters_fail_conformance(name, fragment):
    problems = conformance_problems(discover([TEST_ALGORITHMS])[name])
    assert problems and all(fragment in problem for problem in problems)


def test_an_unrepeatable_build_conforms_once_its_spec_says_so():
    """The check on repeatability is what failed `fickle`: declared, the same adapter passes."""
    spec = discover([TEST_ALGORITHMS])["fickle"]
    assert spec.repeatable
    assert conformance_problems(dataclasses.replace(spec, repeatable=False)) == []


def test_new_adapter_from_the_template_conforms_and_runs(tmp_path, cli, make_dataset, monkeypatch):
    status, out, err = cli("adapters", "new", "my-index", "--dir", tmp_path / "algos")
    assert status == 0, err
    folder = tmp_path / "algos" / "my-index"
    assert sorted(p.name for p in folder.iterdir()) == [
        "Dockerfile",
        "adapter.py",
        "spec.yml",
        "test_adapter.py",
    ]
    monkeypatch.setenv("ANNBENCH_ALGORITHMS_PATH", str(tmp_path / "algos"))
    spec = discover()["my-index"]
    assert spec.source.startswith("path") and conformance_problems(spec) == []
    status, _, err = cli("adapters", "new", "my-index", "--dir", tmp_path / "algos")
    assert status == 2 and "already exists" in err
    status, _, err = cli("adapters", "new", "bad/name", "--dir", tmp_path / "algos")
    assert status == 2 and "holds characters outside the allowed set" in err


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "annbench-myplug"
version = "0.1.0"

[project.entry-points."annbench.adapters"]
myplug = "annbench_myplug"

[tool.setuptools]
packages = ["annbench_myplug"]

[tool.setuptools.package-data]
annbench_myplug = ["spec.yml"]
"""


def test_plugin_package_installed_with_pip_is_discovered_and_runs(tmp_path, make_dataset):
    from annbench.adapters.scaffold import new_adapter

    source = tmp_path / "plugin"
    source.mkdir()
    (source / "pyproject.toml").write_text(textwrap.dedent(PLUGIN_PYPROJECT))
    package = new_adapter("myplug", tmp_path / "scratch")
    (source / "annbench_myplug").mkdir()
    for file in ("adapter.py", "spec.yml"):
        (source / "annbench_myplug" / file).write_text((package / file).read_text())
    (source / "annbench_myplug" / "__init__.py").write_text("")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    listed = subprocess.run(
        [sys.executable, "-m", "annbench.cli", "adapters", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    plugin = next(row for row in json.loads(listed.stdout) if row["name"] == "myplug")
    assert plugin["source"] == "plugin annbench-myplug"
    spec = tmp_path / "spec.yml"
    spec.write_text(
        yaml.safe_dump({"datasets": [str(make_dataset())], "repeats": 1, "adapters": ["myplug"]})
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "annbench.cli",
            "--results-dir",
            str(tmp_path / "results"),
            "run",
            str(spec),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "myplug" in run.stdout and "1.000" in run.stdout
