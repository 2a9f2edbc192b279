"""The docker executor against a real engine (.ci/run starts dockerd and builds the images).

Outside CI, a machine without an engine or without the images skips these tests; in CI they
fail instead, so a broken set-up cannot pass silently.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame
from annbench.store.results import read_result

from .conftest import absent

NEEDED = ("annbench-base:latest", "annbench-faiss-flat:latest", "annbench-faiss-hnsw:latest")
TEST_IMAGES = ("sleepy", "prober", "hog")


@pytest.fixture(scope="module")
def engine():
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        absent(f"no Docker engine ({exc}); start dockerd")
    for tag in NEEDED:
        try:
            client.images.get(tag)
        except docker.errors.ImageNotFound:
            absent(f"image {tag} is missing; run `make images`")
    return client


@pytest.fixture(scope="module")
def test_images(engine):
    """Images of the test adapters, built from annbench-base (no pip: seconds)."""
    from annbench.adapters.registry import discover
    from annbench.run.executors.images import build_adapter

    from .conftest import TEST_ALGORITHMS

    registry = discover([TEST_ALGORITHMS])
    for name in TEST_IMAGES:
        build_adapter(registry[name])
    return TEST_IMAGES


def sweep(tmp_path, dataset, adapters, executor, options=None, **settings):
    experiment = parse_experiment(
        {"datasets": [str(dataset)], "adapters": adapters, "repeats": 1, **settings}
    )
    jobs = expand(experiment, tmp_path / "datasets")
    return run_sweep(
        jobs, tmp_path / f"results-{executor}", executor=executor, options=options or {}
    )


def test_same_job_gives_identical_answers_in_a_process_and_in_a_container(
    tmp_path, engine, make_dataset
):
    path = make_dataset(generator="gauss", n=3000, dim=16)
    adapters = [
        "faiss-flat",
        {"name": "faiss-hnsw", "build": {"M": [8]}, "query": {"ef_search": [10, 40]}},
    ]
    settings = {"build_threads": 1, "seeds": [3]}
    local = sweep(tmp_path, path, adapters, "process", **settings)
    contained = sweep(tmp_path, path, adapters, "docker", {"memory": "1g"}, **settings)
    assert [o.status for o in contained] == ["ok", "ok"]
    for a, b in zip(local, contained):
        ids_a = [p.ids for p in read_result(a.path).points]
        ids_b = [p.ids for p in read_result(b.path).points]
        assert all(np.array_equal(x, y) for x, y in zip(ids_a, ids_b))
    frames = [load_frame(tmp_path / f"results-{e}") for e in ("process", "docker")]
    assert frames[0]["recall"].tolist() == frames[1]["recall"].tolist()
    inside = read_result(contained[1].path)
    assert inside.environment["container_image"].startswith("sha256:")
    assert inside.container_peak_bytes and inside.container_peak_bytes > 0


def test_no_network_and_read_only_dataset(
    tmp_path, engine, test_images, make_dataset, test_adapters
):
    path = make_dataset()
    (outcome,) = sweep(tmp_path, path, ["prober"], "docker")
    report = outcome.error
    assert "probe:" in report, report
    assert "dns=blocked" in report
    assert "interfaces=lo;" in report  # the loopback device alone
    assert "data=blocked(Read-only file system)" in report
    assert not (path.parent / "written-by-adapter").exists()


def test_job_over_its_memory_limit_is_killed_and_the_sweep_goes_on(
    tmp_path, engine, test_images, make_dataset, test_adapters
):
    outcomes = sweep(tmp_path, make_dataset(), ["hog", "faiss-flat"], "docker", {"memory": "256m"})
    assert [o.status for o in outcomes] == ["failed", "ok"]
    assert outcomes[0].error.startswith("out of memory")


def test_job_over_its_timeout_is_killed_and_the_sweep_goes_on(
    tmp_path, engine, test_images, make_dataset, test_adapters
):
    outcomes = sweep(
        tmp_path,
        make_dataset(),
        [{"name": "sleepy", "build": {"seconds": [600]}}, "faiss-flat"],
        "docker",
        timeout=3,
    )
    assert [o.status for o in outcomes] == ["failed", "ok"]
    assert outcomes[0].error.startswith("timeout: killed after 3 s")
    assert not engine.api.containers(filters={"ancestor": "annbench-sleepy:latest"})


def test_parallel_containers_use_disjoint_cpu_sets(tmp_path, engine, make_dataset):
    from annbench.run.runner import cpu_sets

    sets = cpu_sets(2) if len(os.sched_getaffinity(0)) >= 2 else pytest.skip("one CPU")
    assert set(sets[0].split(",")).isdisjoint(sets[1].split(","))
    experiment = parse_experiment(
        {"datasets": [str(make_dataset())], "repeats": 1, "adapters": ["faiss-flat", "faiss-hnsw"]}
    )
    outcomes = run_sweep(
        expand(experiment, tmp_path), tmp_path / "r", executor="docker", parallel=2
    )
    assert [o.status for o in outcomes] == ["ok", "ok"]
    affinities = {tuple(read_result(o.path).environment["cpu_affinity"]) for o in outcomes}
    assert len(affinities) == 2  # each container saw only its own CPU set


def test_missing_image_is_one_line_naming_the_build_command(
    tmp_path, engine, cli, make_dataset, test_adapters
):
    import yaml

    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump({"datasets": [str(make_dataset())], "adapters": ["liar"]}))
    status, _, err = cli("run", spec, "--executor", "docker")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "annbench images build liar" in err


def test_failed_image_build_names_the_failing_step(engine, cli, test_adapters):
    status, _, err = cli("images", "build", "broken")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "Step" in err and "false" in err


def test_without_an_engine_docker_executor_says_so_in_one_line(
    tmp_path, cli, make_dataset, monkeypatch
):
    import yaml

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump({"datasets": [str(make_dataset())], "adapters": ["faiss-flat"]}))
    status, _, err = cli("run", spec, "--executor", "docker")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "no Docker engine is reachable" in err
    status, out, err = cli("--results-dir", tmp_path / "r", "run", spec)  # process still works
    assert status == 0, err


@pytest.mark.parametrize(
    "how,parallel", [(signal.SIGKILL, 1), (signal.SIGTERM, 1), (signal.SIGTERM, 2)]
)
def test_a_container_dies_and_is_removed_with_annbench(
    tmp_path, engine, test_images, make_dataset, test_adapters, how, parallel
):
    """SIGKILL (annbench gets no say: the engine closes the guard's stdin) or SIGTERM (annbench
    removes the container itself, every one of them when they run in parallel): within
    seconds no container of the sweep is left."""
    import yaml

    from annbench.run.executors.docker import LABEL, OWNER_LABEL, owner

    spec = tmp_path / "spec.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "datasets": [str(make_dataset())],
                "adapters": [{"name": "sleepy", "build": {"seconds": [600, 601]}}],
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "annbench.cli", "--results-dir", str(tmp_path / "r")]
        + ["run", str(spec), "--executor", "docker", "--parallel", str(parallel)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    mine = f"{OWNER_LABEL}={owner(proc.pid)}"

    def ours(**status):  # summaries: a container removing itself meanwhile is no error
        return engine.api.containers(all=True, filters={"label": [LABEL, mine], **status})

    # killed only once they run: a kill between create and start is the orphan case below
    deadline = time.monotonic() + 60
    while len(ours(status="running")) < parallel and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(ours(status="running")) == parallel, "the containers never started"
    os.killpg(proc.pid, how)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while ours() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ours()


def test_a_container_whose_owner_died_before_starting_it_is_removed_by_the_next_job(
    engine, test_images
):
    """annbench killed between create and start leaves a created container with no process;
    the next docker job removes it, and leaves one whose owner still runs."""
    from annbench.run.executors.docker import LABEL, OWNER_LABEL, owner, remove_orphans
    from annbench.run.executors.images import image_tag

    gone = subprocess.Popen(["sleep", "30"])
    dead_owner = owner(gone.pid)
    gone.kill()
    gone.wait()
    image = image_tag("sleepy")
    orphan = engine.containers.create(
        image, ["true"], labels={LABEL: "orphan", OWNER_LABEL: dead_owner}
    )
    alive = engine.containers.create(image, ["true"], labels={LABEL: "alive", OWNER_LABEL: owner()})
    try:
        removed = remove_orphans(engine)
        ids = {c["Id"] for c in engine.api.containers(all=True, filters={"label": LABEL})}
        assert orphan.id in removed and orphan.id not in ids
        assert alive.id not in removed and alive.id in ids
    finally:
        for container in (orphan, alive):
            with contextlib.suppress(Exception):
                container.remove(force=True)


def test_diskann_answers_alike_in_its_environment_and_in_its_container(
    tmp_path, engine, make_dataset
):
    """An adapter with an environment of its own (diskannpy pins numpy 1.25) runs under the
    process executor with that environment's interpreter and in its image, built from the
    same requirements file: one-thread builds answer identically in both."""
    import docker

    from .conftest import available

    spec = available("diskann")
    try:
        engine.images.get("annbench-diskann:latest")
    except docker.errors.ImageNotFound:
        absent("image annbench-diskann:latest is missing; run `make images IMAGES=diskann`")
    path = make_dataset(generator="gauss", n=3000, dim=16)
    adapters = [{"name": "diskann", "query": {"complexity": [20, 80]}}]
    settings = {"build_threads": 1, "seeds": [3]}
    local = sweep(tmp_path, path, adapters, "process", **settings)
    contained = sweep(tmp_path, path, adapters, "docker", {"memory": "2g"}, **settings)
    assert [o.status for o in local + contained] == ["ok", "ok"], [o.error for o in contained]
    here, there = read_result(local[0].path), read_result(contained[0].path)
    assert all(np.array_equal(a.ids, b.ids) for a, b in zip(here.points, there.points))
    assert here.environment["python_executable"] == spec.python
    assert here.environment["packages"]["numpy"].startswith("1.25")
    assert there.environment["packages"]["numpy"].startswith("1.25")
    assert there.environment["container_image"].startswith("sha256:")
