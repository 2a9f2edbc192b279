"""Streaming runbook views: the score (mean recall over a runbook's search steps), the
per-step table, insert throughput, `results --scores`, `plot --view streaming` and the report's
streaming pages, from real faiss-flat and hnswlib runs of a sliding-window runbook."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from annbench.analysis.streaming import (
    configuration_steps,
    insert_throughput,
    runbook_scores,
    step_table,
)
from annbench.datasets.groundtruth import save_with_ground_truth
from annbench.datasets.synthetic import make_synthetic
from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame
from annbench.views.report.builder import build_report
from annbench.views.streaming_plots import step_records

from .test_cli import assert_one_line_error

HNSW = {"name": "hnswlib", "build": {"M": [8], "ef_construction": [40]}, "query": {"ef": [10, 40]}}
RUNBOOK_SPEC = {"generator": "sliding-window", "steps": 4, "window": 2}
RUNBOOK = "sliding-window-4x2"


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """One dataset (3000 labelled blobs, 40 queries); results/static: its static sweep;
    results/mixed: the same plus the sliding-window runbook."""
    root = tmp_path_factory.mktemp("streaming")
    data = root / "datasets"
    dataset = make_synthetic("blobs", {"n": 3000, "n_queries": 40, "dim": 16}, seed=0)
    path = save_with_ground_truth(dataset, data / "tiny.hdf5", progress=False)
    spec = {"datasets": [str(path)], "k": 10, "repeats": 1, "adapters": ["faiss-flat", HNSW]}
    run_sweep(expand(parse_experiment(spec), data), root / "static", executor="inline")
    shutil.copytree(root / "static", root / "mixed")
    streaming = {**spec, "runbooks": [RUNBOOK_SPEC]}
    run_sweep(expand(parse_experiment(streaming), data), root / "mixed", executor="inline")
    return root


@pytest.fixture(scope="module")
def frame(bench):
    return load_frame(bench / "mixed", per_query=True, data_dir=bench / "datasets")


@pytest.fixture(scope="module")
def scores(frame):
    return runbook_scores(frame)


def run_cli(cli, bench, results: str, *args):
    return cli("--data-dir", bench / "datasets", "--results-dir", bench / results, *args)


def test_score_is_the_mean_of_the_step_recalls(frame, scores):
    runbook = frame[frame["workload"] == f"runbook:{RUNBOOK}"]
    assert len(scores) == 3  # faiss-flat, hnswlib at ef 10 and at ef 40
    for _, score in scores.iterrows():
        rows = runbook[
            (runbook["adapter"] == score["adapter"])
            & (runbook["query_params"] == score["query_params"])
        ]
        per_step = rows.groupby("step")["recall"].mean()
        assert score["runbook"] == RUNBOOK
        assert score["steps"] == len(per_step) == 4
        assert score["score"] == pytest.approx(per_step.mean())
        assert score["recall_min"] == pytest.approx(per_step.min())
        assert score["qps"] == pytest.approx(rows.groupby("step")["qps"].mean().mean())


def test_exact_search_scores_one_and_wider_search_scores_higher(scores):
    by = {(s["adapter"], s["query_params"]): s["score"] for _, s in scores.iterrows()}
    assert by[("faiss-flat", "")] == 1.0
    assert by[("hnswlib", "ef=10")] <= by[("hnswlib", "ef=40")] <= 1.0


def test_step_table_follows_the_active_points(frame, scores):
    steps = configuration_steps(step_table(frame), scores.iloc[0])
    assert steps["step"].tolist() == sorted(steps["step"])
    # a window of 2 batches of 750: 1500 active at the first search, 1500 from then on
    assert steps["active"].tolist() == [750, 1500, 1500, 1500]


def test_insert_throughput_is_points_over_seconds(bench, frame):
    runs = frame.loc[frame["workload"] == f"runbook:{RUNBOOK}", "run_id"].unique()
    records = step_records(bench / "mixed", runs)
    assert set(records["run_id"]) == set(runs)
    table = insert_throughput(records)
    inserts = records[records["kind"] == "insert"].sort_values(["run_id", "step"])
    assert len(table) == len(inserts)  # one insert per step in a sliding window
    expected = (inserts["points"] / inserts["seconds"]).to_numpy()
    assert np.allclose(table.sort_values(["run_id", "step"])["throughput"], expected)
    assert (table["points"] == 750).all()


def test_results_scores_prints_each_configuration_once(cli, bench, scores):
    status, out, _ = run_cli(cli, bench, "mixed", "results", "--scores")
    assert status == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["dataset", "runbook", "adapter"]
    body = lines[1:]
    assert len(body) == 3
    assert sum("faiss-flat" in line for line in body) == 1
    for ef in ("ef=10", "ef=40"):
        assert sum(re.search(rf"\b{ef}\b", line) is not None for line in body) == 1
    flat = next(line for line in body if "faiss-flat" in line)
    assert " 1.000 " in flat and flat.split()[-1] == "4"


def test_plot_streaming_writes_a_figure_per_runbook(cli, bench, tmp_path):
    status, out, _ = run_cli(cli, bench, "mixed", "plot", "--view", "streaming", "--out", tmp_path)
    assert status == 0, out
    for suffix in ("png", "svg"):
        path = tmp_path / f"tiny-streaming-{RUNBOOK}.{suffix}"
        assert path.stat().st_size > 10_000
    svg = (tmp_path / f"tiny-streaming-{RUNBOOK}.svg").read_text()
    assert "nearest 0.9" in svg and "1,500" in svg  # the target, the active points


def test_report_has_streaming_page_and_static_views_hold_no_runbook(bench, frame, scores):
    out = bench / "report"
    index = build_report(bench / "mixed", out, frame=frame, data_dir=bench / "datasets")
    page = (out / "streaming-tiny.html").read_text()
    assert f"Runbook {RUNBOOK}" in page
    assert page.count('<table class="scores') == 1
    assert len(re.findall(r"<tr><td>●?</td><td>(?:faiss-flat|hnswlib)", page)) == len(scores)
    for src in re.findall(r'(?:src|href)="(figures/[^"]+)"', page):
        assert (out / src).exists()
    assert f"figures/streaming-tiny/tiny-{RUNBOOK}.svg" in page
    assert "streaming-tiny.html" in index.read_text()
    static = (out / "dataset-tiny.html").read_text()
    points = static.split('<table class="points')[1]
    static_points = (frame["workload"] == "static").sum()
    assert points.count("<tr><td>") == static_points < len(frame)
    assert RUNBOOK not in static and RUNBOOK not in index.read_text().split("streaming")[0]
    assert not list(out.glob("*filtered*"))


def test_scores_without_runbook_results_say_how_to_run_one(cli, bench):
    assert_one_line_error(
        run_cli(cli, bench, "static", "results", "--scores"),
        "no streaming runbook results",
        "runbooks:",
    )
    assert_one_line_error(
        run_cli(cli, bench, "static", "plot", "--view", "streaming"), "no streaming runbook"
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("results", "--scores", "--spread"), "--scores shows one line"),
        (("results", "--scores", "--by-difficulty"), "--scores shows one line"),
        (("plot", "--view", "streaming", "--near-recall", "1.5"), "must lie in (0, 1]"),
        (("plot", "--view", "pareto", "--near-recall", "0.9"), "applies to --view difficulty"),
        (("plot", "--view", "filtered"), "nothing for the 'filtered' view"),
    ],
)
def test_bad_options_are_one_line(cli, bench, args, fragment):
    assert_one_line_error(run_cli(cli, bench, "mixed", *args), fragment)


def test_a_dataset_named_like_another_datasets_streaming_page_gets_a_page_of_its_own(
    bench, tmp_path
):
    """The streaming page of 'tiny' and the dataset page of a dataset named 'tiny-streaming'
    (or 'streaming-tiny') never share a file."""
    results = tmp_path / "results"
    shutil.copytree(bench / "mixed", results)
    for name in ("tiny-streaming", "streaming-tiny"):
        dataset = make_synthetic("blobs", {"n": 500, "n_queries": 10, "dim": 8}, seed=1)
        path = save_with_ground_truth(dataset, tmp_path / "data" / f"{name}.hdf5", progress=False)
        spec = {"datasets": [str(path)], "k": 10, "repeats": 1, "adapters": ["faiss-flat"]}
        run_sweep(expand(parse_experiment(spec), path.parent), results, executor="inline")
    out = tmp_path / "report"
    build_report(results, out, frame=load_frame(results, per_query=True))
    assert f"Runbook {RUNBOOK}" in (out / "streaming-tiny.html").read_text()
    for name in ("tiny-streaming", "streaming-tiny"):
        page = (out / f"dataset-{name}.html").read_text()
        assert RUNBOOK not in page and name in page
