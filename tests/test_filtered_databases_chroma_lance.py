"""Chroma's and LanceDB's own filtered search, run for real through the runner on every filter
kind they declare: Chroma's ``where`` on record metadata, LanceDB's ``where`` clause with pre-
and post-filtering. USearch's Python binding cannot filter, so its filtered jobs are skipped
with the reason (and post-filtering its plain search still runs)."""

from __future__ import annotations

import importlib.util

import pytest

from annbench.adapters.registry import discover
from annbench.datasets.attributes import add_filter_workloads
from annbench.datasets.groundtruth import save_with_ground_truth
from annbench.datasets.store import write_dataset
from annbench.datasets.synthetic import make_synthetic

from .conftest import absent

KINDS = ["label", "tags", "range"]
MODULES = {"chroma": "chromadb", "lancedb": "lancedb", "usearch": "usearch"}


@pytest.fixture(scope="module")
def filtered_dataset(tmp_path_factory):
    """2000 blobs x 16 with one workload per kind at selectivity 0.1 and 0.01 where the
    attributes allow it (blob labels are about a tenth of the base each, so no label 0.01)."""
    folder = tmp_path_factory.mktemp("filtered")
    dataset = make_synthetic("blobs", {"n": 2000, "n_queries": 20, "dim": 16}, seed=0)
    path = save_with_ground_truth(dataset, folder / "tiny.hdf5", progress=False)
    added = add_filter_workloads(dataset, KINDS, [0.1, 0.01], ["none"], warn=lambda _: None)
    assert {name.split("-")[0] for name in added} == set(KINDS)
    write_dataset(path, dataset, overwrite=True)
    return path, added


def run(tmp_path, dataset_path, adapter: dict, workloads=("all",), modes=("batch",)):
    """Run ``adapter`` on the dataset's workloads inline; the outcomes and the results frame."""
    from annbench.run.plan import expand, parse_experiment
    from annbench.run.runner import run_sweep
    from annbench.store.frame import load_frame

    name = adapter["name"]
    if not importlib.util.find_spec(MODULES[name]):
        absent(f"{MODULES[name]} not installed (pip install -e '.[adapters]')")
    experiment = parse_experiment(
        {
            "datasets": [{"dataset": str(dataset_path), "workloads": list(workloads)}],
            "repeats": 1,
            "warmup": 0,
            "modes": list(modes),
            "adapters": [adapter],
        }
    )
    outcomes = run_sweep(expand(experiment, tmp_path), tmp_path / "results", executor="inline")
    return outcomes, load_frame(tmp_path / "results")


def test_specs_declare_what_each_library_filters_natively():
    specs = discover()
    assert specs["chroma"].filters == ("label", "tags", "range")
    assert specs["lancedb"].filters == ("label", "tags", "range")
    assert specs["usearch"].filters == ()


def test_chroma_answers_every_filter_kind_with_its_where_filter(tmp_path, filtered_dataset):
    path, added = filtered_dataset
    outcomes, frame = run(tmp_path, path, {"name": "chroma", "query": {"ef_search": [200]}})
    assert [o.status for o in outcomes] == ["ok"] * len(added)
    assert set(frame["status"]) == {"ok"} and sorted(frame["workload"]) == sorted(added)
    assert set(frame["filter"]) == set(KINDS)
    for _, row in frame.iterrows():
        assert row["recall"] >= 0.95, (row["workload"], row["recall"])


def test_lancedb_measures_prefilter_and_postfilter_on_every_kind(tmp_path, filtered_dataset):
    path, added = filtered_dataset
    adapter = {
        "name": "lancedb",
        "build": {"index_type": ["none", "IVF_PQ"], "num_partitions": [4]},
        "query": {"nprobes": [4], "refine_factor": [50], "prefilter": [True, False]},
    }
    outcomes, frame = run(tmp_path, path, adapter, workloads=("", "all"))
    assert [o.status for o in outcomes] == ["ok"] * 2 * (len(added) + 1)
    assert set(frame["status"]) == {"ok"}

    static = frame[frame["workload"] == "static"]
    exact = static["build.index_type"] == "none"
    assert static[exact]["recall"].tolist() == [1.0, 1.0]  # prefilter means nothing here
    assert static[~exact]["recall"].min() > 0.9

    filtered = frame[frame["workload"] != "static"]
    assert set(filtered["filter"]) == set(KINDS)
    for (index_type, workload), points in filtered.groupby(["build.index_type", "workload"]):
        recall = points.set_index("query.prefilter")["recall"]
        assert sorted(recall.index) == [False, True], (index_type, workload)  # both measured
        if index_type == "none":  # an exact scan of the passing rows
            assert recall[True] == 1.0, (workload, recall.to_dict())
            assert recall[True] >= recall[False], (workload, recall.to_dict())
        else:  # IVF_PQ, every partition probed, re-ranked by full vectors
            assert recall[True] >= 0.9, (workload, recall.to_dict())
    # post-filtering the k nearest keeps few of them when 1% of the base passes
    rare = filtered[filtered["target_selectivity"] == 0.01]
    assert rare[rare["query.prefilter"] == False]["recall"].max() < 0.5  # noqa: E712


def test_usearch_cannot_filter_so_its_filtered_jobs_are_skipped(tmp_path, filtered_dataset):
    path, added = filtered_dataset
    outcomes, frame = run(tmp_path, path, {"name": "usearch"})
    assert [o.status for o in outcomes] == ["skipped"] * len(added)
    assert set(frame["status"]) == {"skipped"}
    for reason in frame["error"]:
        assert "usearch cannot filter by" in reason and "strategy: postfilter" in reason

    # what a user does instead: post-filter usearch's plain search, also one query at a time
    # (a search of one query, which usearch answers with Matches rather than BatchMatches)
    adapter = {
        "name": "usearch",
        "strategy": "postfilter",
        "query": {"expansion_search": [160]},
        "overfetch": [8],
    }
    outcomes, frame = run(
        tmp_path / "post",
        path,
        adapter,
        workloads=[name for name in added if "s0.1" in name],
        modes=["batch", "single"],
    )
    assert {o.status for o in outcomes} == {"ok"}
    assert set(frame["mode"]) == {"batch", "single"}
    assert frame["recall"].min() > 0.8
