"""Recall by query difficulty: the bins, `results --by-difficulty`, the plots and the report's
difficulty parts, from real datasets and real hnswlib / faiss runs (k=10)."""

from __future__ import annotations

import json
import math
import re

import h5py
import numpy as np
import pandas as pd
import pytest

from annbench.analysis.difficulty import (
    bins_wide,
    difficulty_bins,
    hardest_recall,
    in_vs_out_of_distribution,
    nearest_recall_points,
    recall_by_difficulty,
)
from annbench.datasets.groundtruth import save_with_ground_truth, with_ground_truth
from annbench.datasets.store import Dataset, load_dataset, write_dataset
from annbench.datasets.synthetic import make_synthetic
from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame
from annbench.views.difficulty_plots import dataset_binnings, dataset_facts
from annbench.views.report.builder import build_report

from .test_cli import assert_one_line_error

BLOBS = {"n": 2000, "n_queries": 200, "dim": 16}
HNSW = {"name": "hnswlib", "build": {"M": [4], "ef_construction": [16]}, "query": {"ef": [10, 160]}}
IVF = {"name": "faiss-ivf", "build": {"nlist": [32]}, "query": {"nprobe": [1]}}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """blobs (with per-query measures), blobs-ood (its base, shifted queries, provenance
    "ood") and plain (no measures), each run with hnswlib, faiss-flat and faiss-ivf."""
    root = tmp_path_factory.mktemp("difficulty")
    data = root / "datasets"
    data.mkdir()
    parent = save_with_ground_truth(
        make_synthetic("blobs", BLOBS, seed=0), data / "blobs.hdf5", progress=False
    )
    loaded = load_dataset(parent)
    shifted = Dataset(
        base=loaded.base,
        queries=loaded.queries + np.float32(2.0),
        metric="euclidean",
        source={"generator": "ood", "parent": "blobs", "kind": "translate", "shift": 2.0},
    )
    write_dataset(data / "blobs-ood.hdf5", with_ground_truth(shifted, progress=False))
    plain = with_ground_truth(make_synthetic("blobs", BLOBS, seed=1), progress=False)
    plain.query_measures, plain.query_measures_info = {}, {}
    write_dataset(data / "plain.hdf5", plain)
    experiment = parse_experiment(
        {
            "datasets": [str(data / f"{n}.hdf5") for n in ("blobs", "blobs-ood", "plain")],
            "k": 10,
            "repeats": 1,
            "adapters": ["faiss-flat", HNSW, IVF],
        }
    )
    run_sweep(expand(experiment, data), root / "results", executor="inline")
    return root


@pytest.fixture(scope="module")
def frame(bench):
    return load_frame(bench / "results", per_query=True, data_dir=bench / "datasets")


def measure(bench, name: str, dataset: str = "blobs") -> np.ndarray:
    with h5py.File(bench / "datasets" / f"{dataset}.hdf5", "r") as f:
        return f["query_measures"][name][:]


def direct_bin_recalls(recall: np.ndarray, values: np.ndarray, high_is_hard: bool, bins: int):
    """Equal-count quantile bins of the rank (ties: first come first), numpy and pandas only."""
    keep = ~np.isnan(values)
    hardness = pd.Series(values[keep] if high_is_hard else -values[keep])
    rank = hardness.rank(method="first")
    which = pd.qcut(rank, bins, labels=False).to_numpy()
    return np.array([recall[keep][which == b].mean() for b in range(bins)])


@pytest.mark.parametrize(("name", "high_is_hard"), [("lid_100", True), ("rc_10", False)])
def test_bin_recalls_equal_a_direct_numpy_computation(bench, frame, name, high_is_hard):
    values = measure(bench, name)
    points = frame[frame["dataset"] == "blobs"]
    facts = dataset_facts(points, bench / "datasets")
    binnings = dataset_binnings({n: f.measures for n, f in facts.items()}, name, 5)
    wide = bins_wide(recall_by_difficulty(points, binnings))
    assert len(wide) == len(points) == 4
    for (_, point), (_, row) in zip(points.iterrows(), wide.iterrows()):
        assert (row["adapter"], row["query_params"]) == (point["adapter"], point["query_params"])
        expected = direct_bin_recalls(point["recall_per_query"], values, high_is_hard, 5)
        got = row[[f"bin {b}" for b in range(1, 6)]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_hardest_bin_of_hnswlib_at_low_ef_has_lower_recall_than_the_easiest(bench, frame):
    point = frame[(frame["dataset"] == "blobs") & (frame["query_params"] == "ef=10")].iloc[0]
    binnings = dataset_binnings({"blobs": {"lid_100": measure(bench, "lid_100")}}, "lid_100")
    by_bin = recall_by_difficulty(frame.loc[[point.name]], binnings)["recall"].to_numpy()
    print(f"hnswlib M=4 ef=10 recall per lid_100 quintile, easiest to hardest: {by_bin}")
    assert by_bin[-1] < by_bin[0] - 0.1


def test_bins_leave_undefined_queries_out_and_count_them():
    values = np.array([5.0, np.nan, 1.0, 3.0, np.inf, 2.0, np.nan])
    binning = difficulty_bins(values, -values, bins=2, measure="rc_10")  # low is hard
    # easiest first: inf, 5, 3 | 2, 1
    assert binning.assignment.tolist() == [0, -1, 1, 0, 0, 1, -1]
    assert binning.counts == (3, 2) and binning.undefined == 2
    assert binning.ranges == ((3.0, np.inf), (1.0, 2.0))


def test_hardest_share_is_the_ceiling_of_ten_percent_of_the_defined_queries():
    hardness = np.array([np.nan, *range(11)], dtype=float)  # 11 defined: the 2 hardest
    recall = np.array([0.0, *[1.0] * 9, 0.5, 0.25])
    assert hardest_recall(recall, hardness) == pytest.approx((0.5 + 0.25) / 2)
    assert math.isnan(hardest_recall(recall, np.full(12, np.nan)))


def test_nearest_recall_point_per_adapter_prefers_the_faster_on_a_tie():
    frame = pd.DataFrame(
        {
            "dataset": ["d"] * 4,
            "adapter": ["a", "a", "a", "b"],
            "status": ["ok"] * 4,
            "recall": [0.90, 0.99, 0.99, 0.5],
            "qps": [500.0, 100.0, 200.0, 9.0],
        }
    )
    chosen = nearest_recall_points(frame, 0.95)
    assert chosen[["adapter", "recall", "qps"]].values.tolist() == [
        ["a", 0.99, 200.0],
        ["b", 0.5, 9.0],
    ]


def test_ood_table_reads_qps_at_recall_off_each_frontier_and_leaves_unreached_blank():
    def points(rows):
        return pd.DataFrame(rows, columns=["adapter", "recall", "qps"]).assign(status="ok")

    parent = points([("a", 0.8, 1000.0), ("a", 1.0, 10.0), ("b", 0.95, 50.0)])
    shifted = points([("a", 0.9, 40.0), ("b", 0.7, 80.0)])
    table = in_vs_out_of_distribution(parent, shifted, 0.9).set_index("adapter")
    assert table.loc["a", "qps_parent"] == pytest.approx(100.0)  # halfway in log QPS
    assert table.loc["a", "ratio"] == pytest.approx(0.4)
    assert table.loc["b", "qps_parent"] == 50.0
    assert math.isnan(table.loc["b", "qps_ood"]) and math.isnan(table.loc["b", "ratio"])


def paths(bench):
    return ["--data-dir", bench / "datasets", "--results-dir", bench / "results"]


def test_results_by_difficulty_prints_each_bins_range_and_recall(bench, cli):
    status, out, err = cli(*paths(bench), "results", "--by-difficulty", "--dataset", "blobs")
    assert status == 0, err
    assert "blobs: recall per lid_100 bin (high is hard), 5 bins of equal size" in out
    ranges = re.findall(r"bin (\d): lid_100 (\S+) to (\S+), 40 queries", out)
    assert [r[0] for r in ranges] == ["1", "2", "3", "4", "5"]
    lows = [float(r[1]) for r in ranges]
    assert lows == sorted(lows)
    assert re.search(r"hnswlib .* ef=10 +batch +0\.\d{3}( +0\.\d{3}){5}", out), out
    status, out, _ = cli(
        *paths(bench), "results", "--by-difficulty", "--measure", "rc", "--bins", "4"
    )
    assert status == 0 and "rc_10 bin (low is hard), 4 bins" in out and "50 queries" in out


def test_results_by_difficulty_as_json_is_one_row_per_point_and_bin(bench, frame, cli):
    status, out, _ = cli(
        *paths(bench), "results", "--by-difficulty", "--format", "json", "--dataset", "blobs"
    )
    rows = json.loads(out)
    assert status == 0 and len(rows) == 4 * 5
    assert {row["measure"] for row in rows} == {"lid_100"}
    flat = [r for r in rows if r["adapter"] == "faiss-flat"]
    assert [r["bin"] for r in flat] == [1, 2, 3, 4, 5] and {r["recall"] for r in flat} == {1.0}


def test_results_by_difficulty_skips_a_dataset_without_measures_with_a_note(bench, cli):
    status, out, err = cli(*paths(bench), "results", "--by-difficulty")
    assert status == 0
    assert "blobs-ood: recall per lid_100" in out and "plain" not in out
    assert "skipped dataset plain has no per-query lid_100" in err
    assert "annbench datasets describe plain --queries" in err


def test_results_by_difficulty_on_a_dataset_without_measures_is_one_line(bench, cli):
    result = cli(*paths(bench), "results", "--by-difficulty", "--dataset", "plain")
    assert_one_line_error(result, "plain", "annbench datasets describe plain --queries")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--by-difficulty", "--measure", "hubness"), "unknown query measure 'hubness'"),
        (("--by-difficulty", "--bins", "1"), "--bins must be 2 or more"),
        (("--measure", "rc"), "apply to --by-difficulty"),
    ],
)
def test_results_by_difficulty_bad_options_are_one_line(bench, cli, args, fragment):
    assert_one_line_error(cli(*paths(bench), "results", *args), fragment)


def test_plot_difficulty_draws_recall_against_lid_and_rc(bench, cli, tmp_path):
    status, out, err = cli(*paths(bench), "plot", "--view", "difficulty", "--out", tmp_path)
    assert status == 0, err
    for name in ("blobs", "blobs-ood"):
        for measure_name in ("lid_100", "rc_10"):
            for suffix in ("png", "svg"):
                path = tmp_path / f"{name}-difficulty-{measure_name}.{suffix}"
                assert path.stat().st_size > 1000, path
    assert not list(tmp_path.glob("plain-*")) and "skipped dataset plain" in err


def test_query_sets_figure_has_a_frontier_per_set(frame, tmp_path):
    from annbench.views.difficulty_plots import plot_query_sets

    written = plot_query_sets(frame, {"all": "blobs", "ood": "blobs-ood"}, tmp_path / "study")
    assert sorted(p.name for p in written) == ["study-query-sets.png", "study-query-sets.svg"]
    svg = (tmp_path / "study-query-sets.svg").read_text()
    for label in ("all", "ood", "hnswlib", "faiss-flat", "faiss-ivf"):  # legend and titles
        assert f"<!-- {label} -->" in svg, label
    assert plot_query_sets(frame, {"all": "absent"}, tmp_path / "none") == []


def test_plot_difficulty_without_measures_is_one_line(bench, cli, tmp_path):
    result = cli(*paths(bench), "plot", "--view", "difficulty", "--dataset", "plain")
    assert_one_line_error(result, "plain", "annbench datasets describe plain --queries")


@pytest.fixture(scope="module")
def site(bench, frame):
    index = build_report(
        bench / "results", bench / "site", frame=frame, data_dir=bench / "datasets"
    )
    return index.parent


def test_ranking_gains_recall_on_the_hardest_queries(site, bench, frame):
    page = site.joinpath("index.html").read_text()
    assert "recall, hardest 10% (LID₁₀₀)" in page
    blobs = page.split('href="dataset-blobs.html"')[1].split("</section>")[0]
    flat = re.search(r"<td>faiss-flat</td>(.*?)</tr>", blobs).group(1)
    assert re.search(r'class="num hardest" title="at [^"]*">1\.000</td>', flat)
    # hnswlib's point nearest 0.95, its 20 hardest queries by lid_100, read from the file
    chosen = nearest_recall_points(frame[frame["dataset"] == "blobs"], 0.95)
    hnsw = chosen[chosen["adapter"] == "hnswlib"].iloc[0]
    hardest = np.argsort(measure(bench, "lid_100"), kind="stable")[-20:]
    expected = f"{hnsw['recall_per_query'][hardest].mean():.3f}"
    row = re.search(r"<td>hnswlib</td>(.*?)</tr>", blobs).group(1)
    assert f">{expected}</td>" in row
    plain = page.split('href="dataset-plain.html"')[1].split("</section>")[0]
    assert re.search(
        r'class="num hardest" title="dataset plain stores no per-query measures; run '
        r'`annbench datasets describe plain --queries` to add them"></td>',
        plain,
    )


def test_report_compares_qps_on_in_and_out_of_distribution_queries(site):
    page = site.joinpath("index.html").read_text()
    assert "In-distribution vs out-of-distribution queries" in page
    section = page.split("<h3>blobs-ood vs blobs</h3>")[1].split("</section>")[0]
    assert "translate" in section and "QPS @ 0.9, blobs-ood (OOD)" in section
    cells = dict(
        (adapter, rest) for adapter, rest in re.findall(r"<tr><td>([\w-]+)</td>(.*?)</tr>", section)
    )
    assert set(cells) == {"faiss-flat", "faiss-ivf", "hnswlib"}
    flat = re.findall(r'<td class="num">([^<]*)</td>', cells["faiss-flat"])
    assert "–" not in flat and float(flat[2]) > 0
    ivf = re.findall(r'<td class="num">([^<]*)</td>', cells["faiss-ivf"])
    assert ivf[1:] == ["–", "–"], ivf  # nprobe=1 of 32 lists never reaches recall 0.9
    assert "does not reach recall 0.9" in page


def test_dataset_page_has_a_difficulty_section_with_its_figures(site):
    page = site.joinpath("dataset-blobs.html").read_text()
    assert '<h2 id="difficulty">Query difficulty</h2>' in page
    for measure_name in ("lid_100", "rc_10"):
        figure = site / "figures" / f"blobs-difficulty-{measure_name}.svg"
        assert figure.stat().st_size > 1000 and figure.name in page
    assert "Query difficulty" not in site.joinpath("dataset-plain.html").read_text()
