"""Every example in the README runs as written: each `sh` block's lines, in order, from one
empty folder, through a shell, with the experiment spec the README shows as experiment.yml.
A line marked `# needs ...` (network, Docker images) is left out, for the reason it names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
NEEDS = re.compile(r"#\s*needs\b")


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", README.read_text(), flags=re.S)


def examples() -> list[str]:
    lines = [line.strip() for block in blocks("sh") for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_readme_shows_examples_and_marks_what_it_skips():
    commands = examples()
    assert len(commands) >= 20
    skipped = [line for line in commands if NEEDS.search(line)]
    assert all("network" in line or "Docker" in line for line in skipped), skipped
    assert len(skipped) <= 3
    assert len(blocks("yaml")) == 1  # the experiment spec the examples run


def _inputs(folder: Path) -> None:
    """What the examples name and the README leaves to the reader: the experiment spec it
    shows, and vector files for `datasets import`."""
    from annbench.datasets.formats import write_vecs

    (folder / "experiment.yml").write_text(blocks("yaml")[0])
    rng = np.random.default_rng(0)
    base = rng.standard_normal((500, 8)).astype(np.float32)
    queries = rng.standard_normal((20, 8)).astype(np.float32)
    write_vecs(folder / "base.fvecs", base)
    write_vecs(folder / "query.fvecs", queries)
    distances = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)
    write_vecs(folder / "gt.ivecs", np.argsort(distances, axis=1, kind="stable")[:, :100])


@pytest.mark.slow
def test_every_readme_example_runs_as_written(tmp_path):
    _inputs(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for variable in ("ANNBENCH_DATA_DIR", "ANNBENCH_RESULTS_DIR", "ANNBENCH_ALGORITHMS_PATH"):
        env.pop(variable, None)
    for line in examples():
        if NEEDS.search(line):
            continue
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, line
    assert (tmp_path / "results" / "report" / "index.html").exists()
    assert (tmp_path / "results.csv").read_text().startswith("dataset,")
    assert "checks" in (tmp_path / "summary.md").read_text()
