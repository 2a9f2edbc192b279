"""Shared fixtures: tiny seeded datasets and a CLI runner that captures one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from annbench.datasets.groundtruth import save_with_ground_truth
from annbench.datasets.synthetic import make_synthetic

TEST_ALGORITHMS = Path(__file__).parent / "algorithms"
ANN_BENCHMARKS_DATA = Path(
    os.environ.get(
        "ANNBENCH_FIXTURES",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "ann-benchmarks",
    )
)


def absent(message: str) -> None:
    """Something a test needs is not on this machine: skip here, but fail in CI, where
    everything must be present."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# a complete exact adapter module (numpy brute force), for tests that write adapter folders
EXACT_ADAPTER = """
import numpy as np
from annbench.adapters.protocol import Adapter


class Exact(Adapter):
    def build(self, base, ids):
        self.base, self.ids = base, ids

    def search(self, queries, k):
        d = ((queries[:, None, :] - self.base[None]) ** 2).sum(-1)
        top = np.argsort(d, axis=1)[:, :k]
        return self.ids[top], np.take_along_axis(d, top, axis=1)
"""


def available(name: str):
    """The registered adapter ``name``; skipped here (failed in CI) when it cannot run here,
    with the reason `annbench adapters list` gives."""
    from annbench.adapters.availability import availability
    from annbench.adapters.registry import discover

    spec = discover()[name]
    reason = availability(spec)
    if reason:
        hint = " (make envs)" if spec.environment else " (pip install -e '.[adapters]')"
        absent(f"{name} cannot run here: {reason}{hint}")
    return spec


def ann_benchmarks_file(metric: str) -> Path:
    """A dataset file written by ann-benchmarks itself (random-xs-20-METRIC.hdf5).

    Outside CI a checkout without shared/ beside it skips these tests; in CI it fails.
    """
    path = ANN_BENCHMARKS_DATA / f"random-xs-20-{metric}.hdf5"
    if not path.exists():
        message = f"ann-benchmarks fixture {path} is absent; set ANNBENCH_FIXTURES to its folder"
        absent(message)
    return path


@pytest.fixture
def make_dataset(tmp_path):
    """make_dataset(name, generator="blobs", metric="euclidean", seed=0, **params) -> path."""

    def make(
        name: str = "tiny",
        generator: str = "blobs",
        metric: str = "euclidean",
        seed: int = 0,
        **params,
    ) -> Path:
        params = {"n": 2000, "n_queries": 50, "dim": 16, **params}
        dataset = make_synthetic(generator, params, seed=seed, metric=metric)
        return save_with_ground_truth(
            dataset, tmp_path / "datasets" / f"{name}.hdf5", progress=False
        )

    return make


@pytest.fixture
def test_adapters(monkeypatch):
    """Make the misbehaving test adapters (sleepy, crashy, liar) discoverable, here and in
    worker subprocesses."""
    monkeypatch.setenv("ANNBENCH_ALGORITHMS_PATH", str(TEST_ALGORITHMS))
    return TEST_ALGORITHMS


@pytest.fixture
def cli(capsys):
    """cli(*args) -> (exit status, stdout, stderr), running annbench's real entry point."""
    from annbench.cli import main

    def invoke(*args: str):
        status = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return status, out, err

    return invoke
