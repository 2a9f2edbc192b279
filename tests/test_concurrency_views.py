"""Concurrent-clients views: the configuration nearest a recall, QPS at a p99 bound, the QPS
and p99 figures with the harness's ceiling, `results`, `plot --view concurrency` and the
report's concurrency page and ranking column, from real hnswlib, faiss-flat (and, where it is
registered, noop) runs at 1 and 2 clients beside a static sweep of the same dataset and a
runbook whose search step has clients (which belongs to the streaming views)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from annbench.adapters.registry import discover
from annbench.analysis.concurrency import (
    ceiling_by_level,
    chosen_levels,
    configurations,
    is_clients,
    level_table,
    nearest_configurations,
    qps_at_p99,
)
from annbench.datasets.groundtruth import save_with_ground_truth
from annbench.datasets.synthetic import make_synthetic
from annbench.run.plan import expand, parse_experiment
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame
from annbench.views.concurrency_plots import plot_concurrency
from annbench.views.report.builder import build_report

from .test_cli import assert_one_line_error
from .test_report import IMAGES_LOADED, browser  # noqa: F401  (the headless Chromium fixture)

RUNBOOK = {
    "name": "crowded",
    "steps": [
        {"insert": {"range": [0, 2000]}},
        {"search": {"clients": 2, "duration": 0.3, "warmup": 0.1}},
    ],
}
HNSW = {"name": "hnswlib", "build": {"M": [8], "ef_construction": [40]}, "query": {"ef": [10, 40]}}
DEFINITION = "completed queries / wall time from the common start to the last client's end"


def noop_registered() -> bool:
    return "noop" in discover()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """One dataset (3000 blobs, 40 queries): a static sweep, a clients sweep at 1 and 2
    clients of 0.3 s each (hnswlib at ef 10 and 40, faiss-flat, noop where registered) and a
    runbook searched by 2 clients (faiss-flat)."""
    root = tmp_path_factory.mktemp("concurrency")
    data = root / "datasets"
    dataset = make_synthetic("blobs", {"n": 3000, "n_queries": 40, "dim": 16}, seed=0)
    path = save_with_ground_truth(dataset, data / "tiny.hdf5", progress=False)
    static = {"datasets": [str(path)], "k": 10, "repeats": 1, "adapters": ["faiss-flat", HNSW]}
    run_sweep(expand(parse_experiment(static), data), root / "results", executor="inline")
    clients = {
        **static,
        "clients": [1, 2],
        "duration": 0.3,
        "client_warmup": 0.1,
        "adapters": ["faiss-flat", HNSW, *(["noop"] if noop_registered() else [])],
    }
    run_sweep(expand(parse_experiment(clients), data), root / "results", executor="inline")
    runbook = {**static, "adapters": ["faiss-flat"], "runbooks": [RUNBOOK]}
    run_sweep(expand(parse_experiment(runbook), data), root / "results", executor="inline")
    return root


@pytest.fixture(scope="module")
def frame(bench):
    return load_frame(bench / "results", per_query=True, data_dir=bench / "datasets")


@pytest.fixture(scope="module")
def report(bench, frame):
    return build_report(bench / "results", bench / "site", frame=frame, p99_bound_ms=20)


def clients_rows(frame):
    """The clients points of the plain query sweep (not the runbook's)."""
    return frame[(frame["mode"] == "clients") & (frame["workload"] == "static")]


def test_a_runbooks_clients_steps_stay_out_of_the_concurrency_views(frame):
    steps = frame[frame["workload"] == "runbook:crowded"]
    assert (steps["mode"] == "clients").any()  # measured by clients, shown by streaming
    assert not is_clients(steps).any()
    assert is_clients(frame).sum() == len(clients_rows(frame))
    assert set(level_table(frame)["qps"]).isdisjoint(steps["qps"])


def run_cli(cli, bench, *args):
    return cli("--data-dir", bench / "datasets", "--results-dir", bench / "results", *args)


def test_each_adapter_is_drawn_at_its_configuration_nearest_the_target(frame):
    every = configurations(frame)
    assert set(every["query_params"][every["adapter"] == "hnswlib"]) == {"ef=10", "ef=40"}
    for target in (0.5, 0.95, 1.0):
        chosen = nearest_configurations(frame, target)
        assert sorted(chosen["adapter"]) == sorted(every["adapter"].unique())
        for _, config in chosen.iterrows():
            own = every[every["adapter"] == config["adapter"]]
            assert abs(config["recall"] - target) == (own["recall"] - target).abs().min()
    hnswlib = every[every["adapter"] == "hnswlib"].set_index("query_params")["recall"]
    assert hnswlib["ef=40"] > hnswlib["ef=10"]  # so 0.95 picks ef=40 and 0.5 picks ef=10
    pick = {t: nearest_configurations(frame, t).set_index("adapter") for t in (0.5, 1.0)}
    assert pick[0.5].loc["hnswlib", "query_params"] == "ef=10"
    assert pick[1.0].loc["hnswlib", "query_params"] == "ef=40"


def test_the_level_table_holds_every_configuration_at_every_level(frame):
    rows = clients_rows(frame)
    table = level_table(frame, 0.95)
    assert len(table) == len(rows)  # one run per configuration and level here
    assert set(table["clients"]) == {1, 2}
    assert table["ceiling_qps"].gt(0).all() and table["harness_bound"].dtype == bool
    chosen = chosen_levels(frame, 0.95)
    assert set(chosen["adapter"]) == set(rows["adapter"])
    assert len(chosen) == 2 * chosen["adapter"].nunique()  # both levels of each choice
    assert (chosen[chosen["adapter"] == "hnswlib"]["query_params"] == "ef=40").all()
    for _, level in table.iterrows():
        row = rows[
            (rows["adapter"] == level["adapter"])
            & (rows["query_params"] == level["query_params"])
            & (rows["clients"] == level["clients"])
        ].iloc[0]
        assert level["qps"] == pytest.approx(row["qps"])
        assert level["latency_p99_ms"] == pytest.approx(row["latency_p99_ms"])
        assert level["harness_bound"] == bool(row["harness_bound"])


def test_the_ceiling_is_the_highest_any_job_measured_at_each_level(frame):
    rows = clients_rows(frame)
    ceiling = ceiling_by_level(frame).set_index("clients")["ceiling_qps"]
    for clients in (1, 2):
        assert ceiling[clients] == rows.loc[rows["clients"] == clients, "ceiling_qps"].max()


def test_qps_at_p99_takes_the_fastest_row_within_the_bound(frame):
    rows = clients_rows(frame)
    below = qps_at_p99(frame, rows["latency_p99_ms"].min() / 2)
    assert sorted(below["adapter"]) == sorted(rows["adapter"].unique())
    assert below["qps"].isna().all()
    above = qps_at_p99(frame, rows["latency_p99_ms"].max() * 2).set_index("adapter")
    for adapter, own in rows.groupby("adapter"):
        best = own.loc[own["qps"].idxmax()]
        assert above.loc[adapter, "qps"] == best["qps"]
        assert above.loc[adapter, "clients"] == best["clients"]
        assert above.loc[adapter, "query_params"] == best["query_params"]
    hnswlib = rows[rows["adapter"] == "hnswlib"]
    bound = float(np.median(hnswlib["latency_p99_ms"]))
    answer = qps_at_p99(frame, bound).set_index("adapter").loc["hnswlib"]
    within = hnswlib[hnswlib["latency_p99_ms"] <= bound]
    assert answer["latency_p99_ms"] <= bound
    assert answer["qps"] == within["qps"].max()


def test_the_figures_are_written_with_the_ceiling(bench, frame):
    rows = clients_rows(frame)
    paths = plot_concurrency(rows, bench / "figures" / "tiny-concurrency", "tiny")
    assert sorted(p.name for p in paths) == [
        f"tiny-concurrency-{view}.{suffix}" for view in ("p99", "qps") for suffix in ("png", "svg")
    ]
    assert all(p.stat().st_size > 1000 for p in paths)
    qps_svg = next(p for p in paths if p.name == "tiny-concurrency-qps.svg").read_text()
    assert "harness ceiling" in qps_svg
    assert plot_concurrency(frame[~is_clients(frame)], bench / "none", "tiny") == []


def test_harness_bound_points_are_flagged(frame, report):
    if not noop_registered():
        pytest.skip("the noop adapter (algorithms/noop) is not registered yet")
    noop = level_table(frame)
    noop = noop[noop["adapter"] == "noop"]
    assert noop["harness_bound"].all()
    page = (report.parent / "concurrency-tiny.html").read_text()
    assert re.search(r'<tr class="harness-bound"[^>]*><td>●</td><td>noop</td>', page)
    index = report.read_text()
    assert re.search(
        r'<td class="num p99 harness-bound" title="[^"]*harness-bound[^"]*">[\d,]+ H<', index
    )


def test_the_report_has_a_concurrency_page_and_a_ranking_column(report):
    page = (report.parent / "concurrency-tiny.html").read_text()
    assert DEFINITION in page.replace("&#39;", "'")
    assert "latencies pooled over clients" in page
    assert "Ceiling QPS" in page and "no-op answerer" in page
    figures = re.findall(r'<img src="([^"]+)"', page)
    assert len(figures) == 2 and all((report.parent / f).stat().st_size for f in figures)
    index = report.read_text()
    assert "QPS at p99 ≤ 20 ms" in index and 'href="concurrency-tiny.html"' in index
    dataset_page = (report.parent / "dataset-tiny.html").read_text()
    assert "<td>clients</td>" not in dataset_page  # clients points stay out of static views


def test_the_concurrency_page_loads_in_a_browser(report, browser):  # noqa: F811
    browser.get((report.parent / "concurrency-tiny.html").as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors
    images = browser.execute_script(IMAGES_LOADED)
    assert len(images) == 2 and all(loaded for _, loaded in images), images


def test_results_show_the_clients_table(cli, bench):
    status, out, _ = run_cli(cli, bench, "results")
    assert status == 0
    static, clients = out.split("\n\nconcurrent clients")
    assert "runbook:crowded" in static and "runbook" not in clients
    header = clients.splitlines()[1].split()
    assert {"clients", "ceiling_qps", "H", "latency_p99_ms"} <= set(header)
    if noop_registered():
        assert any(line.split()[1] == "noop" and " H " in line for line in clients.splitlines())
        assert "H: harness-bound" in clients


def test_plot_view_concurrency_via_the_cli(cli, bench, tmp_path):
    status, out, _ = run_cli(cli, bench, "plot", "--view", "concurrency", "--out", tmp_path)
    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"tiny-concurrency-{view}.{suffix}" for view in ("p99", "qps") for suffix in ("png", "svg")
    ]
    assert out.count("wrote ") == 4
    status, _, _ = run_cli(cli, bench, "plot", "--view", "concurrency", "--near-recall", "0.5")
    assert status == 0


def copy_results(bench, folder, clients: bool):
    """A results folder holding only the clients results (or only the static ones)."""
    rows = load_frame(bench / "results")
    runs = set(rows.loc[is_clients(rows) == clients, "run_id"])
    for path in (bench / "results").rglob("*.h5"):
        if path.stem in runs:
            target = folder / path.relative_to(bench / "results")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return folder


def test_a_dataset_with_only_clients_results_is_ranked_by_its_concurrency_page(bench, tmp_path):
    results = copy_results(bench, tmp_path / "results", clients=True)
    index = build_report(results, tmp_path / "site", data_dir=bench / "datasets")
    pages = sorted(p.name for p in index.parent.glob("*.html"))
    assert pages == ["concurrency-tiny.html", "environment.html", "index.html"]
    text = index.read_text()
    assert '<h2><a href="concurrency-tiny.html">tiny</a></h2>' in text
    assert "QPS at p99 ≤ 20 ms" in text


def test_plot_view_concurrency_without_clients_results_is_one_line(cli, bench, tmp_path):
    empty = copy_results(bench, tmp_path / "results", clients=False)
    result = cli(
        "--data-dir", bench / "datasets", "--results-dir", empty, "plot", "--view", "concurrency"
    )
    assert_one_line_error(result, "no concurrent-clients results", "clients:")


def test_report_p99_bound_via_the_cli(cli, bench, tmp_path):
    status, out, _ = run_cli(cli, bench, "report", "--out", tmp_path, "--p99-bound-ms", "2.5")
    assert status == 0
    assert "QPS at p99 ≤ 2.5 ms" in (tmp_path / "index.html").read_text()


@pytest.mark.parametrize("bound", ["0", "-1", "nan", "inf"])
def test_a_bad_p99_bound_is_one_line(cli, bench, tmp_path, bound):
    result = run_cli(cli, bench, "report", "--out", tmp_path / "site", "--p99-bound-ms", bound)
    assert_one_line_error(result, "--p99-bound-ms", "positive")
    assert not (tmp_path / "site").exists()


def test_the_other_views_leave_the_clients_points_out(cli, bench, tmp_path):
    status, _, _ = run_cli(cli, bench, "plot", "--out", tmp_path)
    assert status == 0
    pareto = (tmp_path / "tiny-recall-qps.svg").read_text()
    assert "hnswlib" in pareto
    if noop_registered():  # run with clients only: no static point to draw
        assert "noop" not in pareto
