"""The embedded vector databases (Chroma, LanceDB, Milvus Lite): the vendor-defaults profile
prints a plausible recall for every database it names, and a real sweep through the runner
shows each one's query knob at work."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from annbench.run.plan import grid_points, profile_path

from .conftest import absent

MODULES = {  # the modules each database's adapter imports
    "pgvector": ["pgserver", "psycopg"],
    "chroma": ["chromadb"],
    "lancedb": ["lancedb"],
    "milvus-lite": ["milvus_lite", "pymilvus"],
    "sqlite-vec": ["sqlite_vec", "pysqlite3"],
}

# (adapter, a fragment of its line in the results table): the recall range the profile's
# defaults give on the tiny blobs dataset (2000 x 16, k=10)
PROFILE_RECALL = {
    ("pgvector", "ef_search=40"): (0.5, 1.0),
    ("chroma", "ef_search=100"): (0.9, 1.0),
    # product quantisation at LanceDB's defaults: one 8-bit code for all 16 dimensions
    ("lancedb", "index_type=IVF_PQ"): (0.05, 0.9),
    ("lancedb", "index_type=none"): (1.0, 1.0),  # no index: an exact flat scan
    ("milvus-lite", "index_type=AUTOINDEX"): (0.9, 1.0),
    ("sqlite-vec", "chunk_size=1024"): (1.0, 1.0),  # vec0 scans every vector: exact
}


def require(*names: str) -> None:
    """Skip (fail in CI) unless the modules of these adapters are installed."""
    missing = [m for name in names for m in MODULES[name] if not importlib.util.find_spec(m)]
    if missing:
        message = f"{', '.join(missing)} not installed (pip install -e '.[adapters]')"
        absent(message)


def test_vendor_defaults_profile_prints_a_plausible_recall_for_every_database(
    tmp_path, cli, make_dataset
):
    profile = yaml.safe_load(profile_path("vendor-defaults").read_text())
    names = [entry["name"] for entry in profile["adapters"]]
    require(*names)
    assert sorted({name for name, _ in PROFILE_RECALL}) == sorted(names)
    status, out, err = cli(
        "--results-dir",
        tmp_path / "r",
        "run",
        "--profile",
        "vendor-defaults",
        "--dataset",
        str(make_dataset()),
    )
    assert status == 0, err
    rows = [line for line in out.splitlines() if " batch " in line]
    for entry in profile["adapters"]:  # one line per build and query point, none failed
        mine = [line for line in rows if line.split()[1].startswith(entry["name"] + "(")]
        points = len(grid_points(entry["build"])) * len(grid_points(entry["query"]))
        assert len(mine) == points and all(line.endswith(" ok") for line in mine), out
    for (name, fragment), (low, high) in PROFILE_RECALL.items():
        (line,) = [r for r in rows if r.split()[1].startswith(name + "(") and fragment in r]
        recall = float(line.split()[line.split().index("batch") + 2])
        assert low <= recall <= high, line


# database: (build grid, query grid: one knob at two values, low then high, and an exact build
# whose recall is 1.000 whatever the knob)
SWEEPS = {
    "chroma": ({}, {"ef_search": [10, 200]}),
    "lancedb": (
        {"index_type": ["IVF_PQ", "none"], "num_partitions": [8]},
        {"nprobes": [1, 8], "refine_factor": [50]},
    ),
    "milvus-lite": ({"index_type": ["AUTOINDEX", "FLAT"]}, {"ef": [2, 128]}),
}
EXACT_BUILDS = {"lancedb": "none", "milvus-lite": "FLAT"}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_database_sweep_runs_and_honours_its_query_knob(name, tmp_path, make_dataset):
    require(name)
    from annbench.run.plan import expand, parse_experiment
    from annbench.run.runner import run_sweep
    from annbench.store.frame import load_frame

    build, query = SWEEPS[name]
    knob = next(key for key, values in query.items() if len(values) == 2)
    experiment = parse_experiment(
        {
            "datasets": [str(make_dataset(dim=32, n_clusters=1))],
            "repeats": 1,
            "warmup": 0,
            "adapters": [{"name": name, "build": build, "query": query}],
        }
    )
    outcomes = run_sweep(expand(experiment, tmp_path), tmp_path / "results", executor="inline")
    assert [o.status for o in outcomes] == ["ok"] * len(outcomes)
    frame = load_frame(tmp_path / "results")
    assert set(frame["status"]) == {"ok"}
    for run_id, points in frame.groupby("run_id"):
        recall = points.sort_values(f"query.{knob}")["recall"].tolist()
        if name in EXACT_BUILDS and points["build.index_type"].iloc[0] == EXACT_BUILDS[name]:
            assert recall == [1.0, 1.0], run_id
        else:  # more search effort finds more: the knob reaches the index
            assert recall[0] < recall[1] and recall[1] > 0.9, (run_id, recall)
    assert frame["run_id"].nunique() == len(grid_points(build))
