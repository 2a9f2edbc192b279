"""`annbench check`: a degraded configuration fails the gate, an unchanged rerun passes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import yaml

EFS = [40, 80, 160]
# Run-to-run drift of unchanged code on these shared 2-core VMs reaches about 30% (measured:
# faiss-flat 50.7k -> 34.9k QPS); the default 10% suits a dedicated runner.
NOISE = "50%"


@pytest.fixture(scope="module")
def hard_dataset(tmp_path_factory):
    from annbench.datasets.groundtruth import save_with_ground_truth
    from annbench.datasets.synthetic import make_synthetic

    folder = tmp_path_factory.mktemp("check")
    dataset = make_synthetic("gauss", {"n": 4000, "n_queries": 1000, "dim": 32}, seed=2)
    return save_with_ground_truth(dataset, folder / "hard.hdf5", progress=False)


def run_hnswlib(cli, tmp_path, dataset, efs, name):
    spec = tmp_path / f"{name}.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "datasets": [str(dataset)],
                "repeats": 5,
                "build_threads": 1,
                "search_threads": 1,
                "adapters": [
                    "faiss-flat",
                    {
                        "name": "hnswlib",
                        "build": {"M": [4], "ef_construction": [16]},
                        "query": {"ef": efs},
                    },
                ],
            }
        )
    )
    results = tmp_path / name
    status, _, err = cli("--results-dir", results, "run", spec, "--executor", "inline")
    assert status == 0, err
    return results


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, hard_dataset):
    from annbench.cli import main

    tmp_path = tmp_path_factory.mktemp("baseline")

    def cli(*args):
        return main([str(a) for a in args]), "", ""

    results = run_hnswlib(cli, tmp_path, hard_dataset, EFS, "base")
    assert (
        main(
            [
                "--results-dir",
                str(results),
                "baseline",
                "save",
                "--out",
                str(tmp_path / "baseline.json"),
            ]
        )
        == 0
    )
    return tmp_path / "baseline.json"


def test_degraded_configuration_fails_and_names_the_regression(
    tmp_path, cli, hard_dataset, baseline
):
    degraded = run_hnswlib(cli, tmp_path, hard_dataset, [ef // 4 for ef in EFS], "degraded")
    junit, summary = tmp_path / "check.xml", tmp_path / "summary.md"
    status, out, err = cli(
        "check",
        "--baseline",
        baseline,
        "--results",
        degraded,
        "--junit",
        junit,
        "--markdown",
        summary,
        "--max-qps-drop",
        NOISE,
    )
    assert status == 1, out + err
    regressions = [line for line in out.splitlines() if line.startswith("REGRESSION")]
    assert any("reach" in line and "hnswlib" in line for line in regressions), out
    # the degraded run sweeps other ef values: the baseline's own points are missing now
    missing = [line for line in out.splitlines() if line.startswith("MISSING")]
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite"
    assert int(suite.get("failures")) == len(regressions) + len(missing)
    failed = [case for case in suite if case.find("failure") is not None]
    assert any("hnswlib" in case.get("classname") for case in failed)
    assert int(suite.get("tests")) == len(list(suite))
    text = summary.read_text().splitlines()
    header = next(i for i, line in enumerate(text) if line.startswith("| result"))
    assert text[header + 1] == "|---|---|---|---|---|"
    assert all(line.count("|") == 6 for line in text[header : header + 3])
    assert "REGRESSION" in text[header + 2]


def test_an_adapter_left_out_of_the_baseline_is_not_gated(tmp_path, cli, hard_dataset, baseline):
    """`baseline save --exclude` leaves an adapter out; its regressions then go unjudged, while
    the other adapters are still checked. A misspelt name is a one-line error."""
    base_results = baseline.parent / "base"  # where the baseline fixture ran
    partial = tmp_path / "partial.json"
    status, _, err = cli(
        "--results-dir", base_results, "baseline", "save", "--out", partial, "--exclude", "hnswlib"
    )
    assert status == 0, err
    assert {p["key"]["adapter"] for p in json.loads(partial.read_text())["points"]} == {
        "faiss-flat"
    }
    degraded = run_hnswlib(cli, tmp_path, hard_dataset, [ef // 4 for ef in EFS], "degraded")
    status, out, err = cli(
        "check", "--baseline", partial, "--results", degraded, "--max-qps-drop", NOISE
    )
    assert status == 0, out + err
    judged = int(out.split(" checks")[0].split()[-1])
    _, full_out, _ = cli(
        "check", "--baseline", baseline, "--results", degraded, "--max-qps-drop", NOISE
    )
    assert 0 < judged < int(full_out.split(" checks")[0].split()[-1])  # faiss-flat only
    status, _, err = cli(
        "--results-dir", base_results, "baseline", "save", "--out", partial, "--exclude", "hnsw"
    )
    assert status == 2 and len(err.strip().splitlines()) == 1 and "not in the results" in err


def test_unchanged_reruns_pass_despite_timing_noise(tmp_path, cli, hard_dataset, baseline):
    for attempt in range(3):
        results = run_hnswlib(cli, tmp_path, hard_dataset, EFS, f"rerun{attempt}")
        status, out, err = cli(
            "check", "--baseline", baseline, "--results", results, "--max-qps-drop", NOISE
        )
        assert status == 0, out + err
        assert "0 regressions" in out


def _with_speed(document, factor: float, spread: float):
    """A copy whose frontier QPS is scaled by ``factor`` with intervals of +-``spread``."""
    copy = json.loads(json.dumps(document))
    for frontier in copy["frontiers"]:
        for point in frontier["points"]:
            point["qps"] *= factor
            point["qps_max"] *= factor
            point["qps_min"] *= factor
            point["qps_ci_low"] = point["qps"] * (1 - spread)
            point["qps_ci_high"] = point["qps"] * (1 + spread)
    return copy


def test_speed_is_flagged_only_when_the_drop_is_large_and_intervals_apart(baseline):
    from annbench.analysis.gate import compare
    from annbench.store.baselines import load_baseline

    steady = _with_speed(load_baseline(baseline), 1.0, 0.05)
    slower = compare(steady, _with_speed(steady, 1 / 3, 0.05))
    assert all(f.regression for f in slower if f.kind == "qps")
    assert {f.adapter for f in slower if f.regression} == {"faiss-flat", "hnswlib"}
    noisy = compare(steady, _with_speed(steady, 0.7, 0.5))  # 30% slower, intervals overlap
    assert not any(f.regression for f in noisy)
    small = compare(steady, _with_speed(steady, 0.95, 0.01))  # apart, but within 10%
    assert not any(f.regression for f in small)


@pytest.mark.parametrize(
    "content,fragment",
    [
        (None, "does not exist"),
        ("{not json", "not valid JSON"),
        ('{"format": "something-else"}', "not an annbench baseline"),
        (
            '{"format": "annbench-baseline", "version": 99, "points": [], "frontiers": []}',
            "newer than this annbench",
        ),
        ('{"format": "annbench-baseline", "version": 1}', "lacks its 'points'"),
    ],
)
def test_malformed_or_missing_baseline_is_one_line_exit_2(
    tmp_path, cli, baseline, content, fragment
):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    status, _, err = cli("check", "--baseline", path, "--results", tmp_path)
    assert status == 2 and len(err.strip().splitlines()) == 1 and fragment in err


def test_bad_threshold_is_refused(cli, baseline):
    status, _, err = cli("check", "--baseline", baseline, "--max-qps-drop", "lots")
    assert status == 2 and "percentage" in err


def test_smoke_suite_covers_every_registered_adapter():
    from annbench.adapters.registry import discover
    from annbench.run.plan import smoke_experiment

    experiment = smoke_experiment()
    assert sorted(a["name"] for a in experiment.adapters) == sorted(discover())
    assert all(len(v) == 1 for a in experiment.adapters for v in a["build"].values())


def _builds_document(recalls: list[float]) -> dict:
    """A baseline holding one configuration built once per recall given (seeds 0, 1, ...)."""
    key = {
        "dataset": "d",
        "adapter": "db",
        "build_params": "M=16",
        "query_params": "ef=10",
        "mode": "batch",
        "search_threads": 1,
        "build_threads": 1,
        "insertion_order": "original",
        "k": 10,
    }
    points = [{"key": {**key, "seed": seed}, "recall": r} for seed, r in enumerate(recalls)]
    return {"points": points, "frontiers": []}


def test_recall_of_unrepeatable_builds_is_compared_as_a_mean_with_its_spread():
    """Eight builds a side, drawn with chroma's spread on the smoke data (sd ~0.006): a fresh
    draw passes, a mean 0.03 lower fails, and a 0.012 drop within a wide spread passes."""
    from annbench.analysis.gate import compare

    rng = np.random.default_rng(7)
    draw = lambda mean, sd: list(rng.normal(mean, sd, 8))  # noqa: E731
    baseline = _builds_document(draw(0.943, 0.006))
    (same,) = compare(baseline, _builds_document(draw(0.943, 0.006)))
    assert (
        same.kind == "recall" and not same.regression and "means of 8 and 8 builds" in same.detail
    )
    (worse,) = compare(baseline, _builds_document(draw(0.913, 0.006)))
    assert worse.regression and worse.baseline - worse.current > 0.02
    wide = _builds_document([0.90, 0.99] * 4)
    (noisy,) = compare(wide, _builds_document([0.888, 0.978] * 4))
    assert noisy.baseline - noisy.current == pytest.approx(0.012) and not noisy.regression


def test_recall_of_a_single_build_is_compared_strictly():
    from annbench.analysis.gate import compare

    (drop,) = compare(_builds_document([0.942]), _builds_document([0.926]))
    assert drop.regression and "builds" not in drop.detail
    (held,) = compare(_builds_document([0.942]), _builds_document([0.935]))
    assert not held.regression
    (same,) = compare(_builds_document([0.94, 0.94]), _builds_document([0.92, 0.92]))
    assert same.regression  # no spread on either side: every build agrees, so the drop is real
