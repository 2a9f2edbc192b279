"""Streaming runbooks: the format and its checks, the generators, exact ground truth at every
search step, and runbook jobs end to end (annbench/run/runbooks.py, runbook_plan.py,
workloads/runbook.py, datasets/runbook_truth.py)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from annbench.datasets.runbook_truth import read_step_truth, step_ground_truth, truth_path
from annbench.datasets.store import dataset_hash, load_dataset
from annbench.datasets.synthetic import make_synthetic
from annbench.run import runbook_generators as generators
from annbench.run.plan import expand, parse_experiment
from annbench.run.runbooks import active_sets, resolve
from annbench.run.runner import run_sweep
from annbench.store.frame import load_frame
from annbench.store.jobs import runbook_digest


def _numpy_truth(base, queries, metric, active, k):
    """Exact top-k over the active rows by float64 numpy, ties by id."""
    b, q = base.astype(np.float64), queries.astype(np.float64)
    if metric == "angular":
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        distances = 1 - q @ b.T
    else:
        distances = np.sqrt(((q[:, None, :] - b[None]) ** 2).sum(-1))
    distances[:, ~active] = np.inf
    ids = np.broadcast_to(np.arange(len(base)), distances.shape)
    order = np.lexsort((ids, distances), axis=1)[:, :k]
    found = np.take_along_axis(ids, order, 1)
    return np.where(np.isfinite(np.take_along_axis(distances, order, 1)), found, -1)


@pytest.fixture(scope="module")
def blobs():
    return make_synthetic("blobs", {"n": 3000, "n_queries": 30, "dim": 12, "n_clusters": 12})


RUNBOOKS = {
    "sliding": lambda d: generators.sliding_window(3000, steps=6, window=2),
    "clustered": lambda d: generators.clustered_arrival(d.labels, window=3),
    "mix": lambda d: generators.random_mix(3000, operations=25, chunks=10, seed=5),
    "replace-and-slices": lambda d: {
        "name": "hand",
        "slices": {"first": {"range": [0, 1500]}, "rest": {"range": [1500, 3000]}},
        "steps": [
            {"insert": {"slice": "first", "order": "random"}},
            {"search": {}},
            {"delete": {"oldest": 0.3}},
            {"search": {}},
            {"replace": {"delete": {"oldest": 0.1}, "insert": {"slice": "rest"}}},
            {"search": {}},
            {"delete": {"range": [2000, 2200]}},
            {"search": {}},
        ],
    },
}


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
@pytest.mark.parametrize("shape", sorted(RUNBOOKS))
def test_ground_truth_at_every_step_equals_brute_force(blobs, metric, shape):
    data = RUNBOOKS[shape](blobs)
    steps = resolve(data, len(blobs.base), labels=blobs.labels)
    searches = [(step.queries, mask) for step, mask in active_sets(steps, len(blobs.base))]
    truth = step_ground_truth(blobs.base, {"": blobs.queries}, metric, searches, 20)
    assert len(truth) == len(searches) >= 3
    for (ids, distances), (_, active) in zip(truth, searches):
        expected = _numpy_truth(blobs.base, blobs.queries, metric, active, 20)
        assert np.array_equal(ids, expected), shape
        assert active[ids[ids >= 0]].all()
        assert np.all(np.diff(distances, axis=1) >= 0)


def test_generators_keep_the_same_points_and_window(blobs):
    sliding = resolve(generators.sliding_window(3000, steps=6, window=2), 3000)
    clustered = resolve(
        generators.clustered_arrival(blobs.labels, window=3), 3000, labels=blobs.labels
    )
    for steps in (sliding, clustered):
        inserted = np.concatenate([s.ids for s in steps if s.kind == "insert"])
        assert sorted(inserted) == list(range(3000))  # every point arrives once
    counts = [mask.sum() for _, mask in active_sets(sliding, 3000)]
    assert max(counts) == 1000 and counts[-1] == 1000  # two chunks of 500 in the window


def _write(tmp_path, name, data):
    path = tmp_path / f"{name}.yml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "data, expected",
    [
        (
            {"steps": [{"insert": {"range": [0, 10]}}, {"delete": {"range": [5, 20]}}]},
            "step 2 (delete): deletes 10 points that are not active",
        ),
        (
            {"steps": [{"insert": {"range": [0, 10]}}, {"insert": {"range": [5, 20]}}]},
            "step 2 (insert): inserts 5 points already inserted",
        ),
        (
            {"steps": [{"insert": {"slice": "nowhere"}}, {"search": {}}]},
            "step 1 (insert): unknown slice 'nowhere'",
        ),
        (
            {"steps": [{"insert": {"all": True, "order": "sideways"}}, {"search": {}}]},
            "step 1 (insert): unknown order 'sideways'",
        ),
        (
            {"steps": [{"insert": {"range": [0, 10]}}, {"search": {"queries": "elsewhere"}}]},
            "step 2 (search): unknown query set 'elsewhere'",
        ),
        ({"steps": [{"insert": {"range": [0, 10]}}, {"teleport": {}}]}, "step 2: must be one of"),
        ("steps: [insert: {range: [0, 10]}\n  - search", "is not valid YAML at line"),
        ({"steps": [{"insert": {"range": [0, 10]}}]}, "has no search step"),
    ],
)
def test_a_bad_runbook_is_one_line_naming_the_step(make_dataset, cli, tmp_path, data, expected):
    make_dataset("tiny", n=500, n_queries=10)
    runbook = _write(tmp_path, "bad", data)
    spec = _write(
        tmp_path,
        "spec",
        {"datasets": ["tiny"], "adapters": ["faiss-flat"], "runbooks": [str(runbook)]},
    )
    status, out, err = cli(
        "--data-dir", tmp_path / "datasets", "--results-dir", tmp_path / "results", "run", spec
    )
    assert status == 2, (out, err)
    assert expected in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.h5"))


def _experiment(dataset, adapters, **extra):
    return parse_experiment(
        {"datasets": [str(dataset)], "adapters": adapters, "k": 10, "repeats": 1, "warmup": 0,
         "build_threads": [1], **extra}
    )  # fmt: skip


HNSW = {"name": "hnswlib", "build": {"M": [8], "ef_construction": [40]}, "query": {"ef": [10, 40]}}


def test_one_insert_and_one_search_match_the_static_workload(make_dataset, tmp_path):
    path = make_dataset("same", n=3000, n_queries=50)
    runbook = {"name": "all-at-once", "steps": [{"insert": {"all": True}}, {"search": {}}]}
    static = _experiment(path, [HNSW])
    streamed = _experiment(path, [HNSW], runbooks=[str(_write(tmp_path, "once", runbook))])
    for experiment, folder in ((static, "static"), (streamed, "streamed")):
        outcomes = run_sweep(expand(experiment, path.parent), tmp_path / folder, executor="inline")
        assert all(outcome.status == "ok" for outcome in outcomes)
    a = load_frame(tmp_path / "static").set_index("query_params")["recall"]
    b = load_frame(tmp_path / "streamed").set_index("query_params")
    assert set(b["workload"]) == {"runbook:all-at-once"} and set(b["step"]) == {2}
    assert a.to_dict() == b["recall"].to_dict()
    # the step's ground truth, cached beside the dataset, is the dataset's own
    cached = read_step_truth(
        truth_path(path, runbook_digest(runbook), 10), dataset_hash(path), runbook_digest(runbook)
    )
    dataset = load_dataset(path)
    assert np.array_equal(cached[0][0], dataset.neighbors[:, :10])


def test_runbook_jobs_measure_every_step_and_skip_what_cannot_delete(make_dataset, tmp_path):
    path = make_dataset("flow", n=3000, n_queries=40)
    experiment = _experiment(
        path,
        ["faiss-flat", HNSW, "annoy"],
        runbooks=[{"generator": "sliding-window", "steps": 4, "window": 2}],
    )
    jobs = expand(experiment, path.parent)
    skipped = [job for job in jobs if job.skipped]
    assert [job.adapter for job in skipped] == ["annoy"]
    assert "cannot insert or delete" in skipped[0].skipped
    outcomes = run_sweep(jobs, tmp_path / "r", executor="inline")
    assert {o.status for o in outcomes if o.job.adapter != "annoy"} == {"ok"}
    frame = load_frame(tmp_path / "r")
    ok = frame[frame["status"] == "ok"]
    assert sorted(ok["step"].dropna().unique()) == [2, 4, 6, 8]
    flat = ok[ok["adapter"] == "faiss-flat"]
    assert (flat["recall"] == 1.0).all()  # the exact index, against each step's truth
    assert sorted(flat["active"]) == [750, 1500, 1500, 1500]


def test_an_index_that_ignores_deletes_fails_its_run_and_the_sweep_goes_on(
    make_dataset, tmp_path, test_adapters
):
    path = make_dataset("forget", n=1500, n_queries=20)
    runbook = {
        "name": "drop-a-label",
        "steps": [{"insert": {"all": True}}, {"delete": {"label": 0}}, {"search": {}}],
    }
    experiment = _experiment(path, ["forgetful", "faiss-flat"], runbooks=[runbook])
    outcomes = {
        o.job.adapter: o
        for o in run_sweep(expand(experiment, path.parent), tmp_path / "r", executor="inline")
    }
    frame = load_frame(tmp_path / "r").set_index("adapter")
    assert frame.loc["forgetful", "status"] == "failed"
    assert "not active" in frame.loc["forgetful", "error"]
    assert frame.loc["faiss-flat", "status"] == "ok" and frame.loc["faiss-flat", "recall"] == 1.0
    assert outcomes["faiss-flat"].status == "ok"


def test_hnswlib_can_reuse_deleted_slots_as_an_optional_build_parameter(make_dataset, tmp_path):
    """replace_deleted is declared `optional` in hnswlib's spec: absent from the default
    grid (default runs keep their identity), accepted when an experiment names it."""
    from annbench.adapters.registry import discover, load_adapter_class

    path = make_dataset("reuse", n=2000, n_queries=20)
    default = expand(_experiment(path, [HNSW]), path.parent)
    assert all("replace_deleted" not in job.build_params for job in default)
    reuse = {**HNSW, "build": {**HNSW["build"], "replace_deleted": [True]}}
    experiment = _experiment(
        path, [reuse], runbooks=[{"generator": "sliding-window", "steps": 4, "window": 2}]
    )
    outcomes = run_sweep(expand(experiment, path.parent), tmp_path / "r", executor="inline")
    assert [o.status for o in outcomes] == ["ok"]  # and no deleted id came back
    spec = discover()["hnswlib"]
    adapter = load_adapter_class(spec.module_path, spec.class_name)(
        "euclidean", build_threads=1, M=8, ef_construction=40, replace_deleted=True
    )
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1500, 8), dtype=np.float32)
    adapter.capacity = 1000
    adapter.build(vectors[:1000], np.arange(1000))
    adapter.delete(np.arange(500))
    adapter.insert(vectors[1000:], np.arange(1000, 1500))
    assert adapter.index.element_count == 1000  # the new points took the deleted slots
    adapter.set_query_params(ef=50)
    ids, _ = adapter.search(vectors[1000:1010], 5)
    assert (ids >= 500).all() and (ids[:, 0] == np.arange(1000, 1010)).all()


def test_a_param_outside_every_grid_must_be_marked_optional(tmp_path):
    from annbench.adapters.registry import read_spec
    from annbench.errors import UserError

    folder = tmp_path / "typo"
    folder.mkdir()
    (folder / "spec.yml").write_text(
        "module: adapter.py\nclass: A\nmetrics: [euclidean]\nbuild: {M: [8]}\n"
        "params: {MM: {type: int}}\n"
    )
    with pytest.raises(UserError, match="optional: true"):
        read_spec(folder / "spec.yml")


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"slices": {"early": 5}, "steps": [{"insert": {"slice": "early"}}]}, "'slices' must map"),
        ({"slices": {"a": {"slice": "a"}}, "steps": [{"insert": {"slice": "a"}}, {"search": {}}]},
         "refers to itself"),
        ({"steps": [{"insert": {"slice": [1, 2]}}, {"search": {}}]}, "unknown slice"),
        ({"steps": [{"insert": {"all": True}},
                    {"replace": {"delete": 5, "insert": {"all": True}}}]},
         "a selection must be a mapping"),
        ({"seed": -1, "steps": [{"insert": {"random": [0, 10]}}, {"search": {}}]}, "'seed'"),
        ({"steps": [{"insert": {"all": True}}, {"search": {"queries": "../x"}}]}, "query set name"),
        ("slices: {when: {label: 2020-01-01}}\\nsteps: [{insert: {all: true}}, {search: {}}]",
         "not plain text"),
        ({"steps": [{"insert": {"labels": [[1]]}}, {"search": {}}]}, "whole numbers"),
    ],
)  # fmt: skip
def test_malformed_runbooks_are_one_line_too(make_dataset, cli, tmp_path, data, expected):
    make_dataset("tiny", n=500, n_queries=10)
    if isinstance(data, str):
        data = data.replace("\\n", "\n")
    runbook = _write(tmp_path, "odd", data)
    spec = _write(
        tmp_path,
        "spec",
        {"datasets": ["tiny"], "adapters": ["faiss-flat"], "runbooks": [str(runbook)]},
    )
    status, out, err = cli("--data-dir", tmp_path / "datasets", "run", spec)
    assert status == 2 and expected in err, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "entry", [{"generator": "grow-only", "seed": -3}, {"generator": "random-mix", "ratios": "abc"},
              {"generator": "random-mix", "chunks": 100000}],
)  # fmt: skip
def test_bad_generator_parameters_are_one_line(make_dataset, cli, tmp_path, entry):
    make_dataset("tiny", n=500, n_queries=10)
    spec = _write(
        tmp_path, "spec", {"datasets": ["tiny"], "adapters": ["faiss-flat"], "runbooks": [entry]}
    )
    status, out, err = cli("--data-dir", tmp_path / "datasets", "run", spec)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_two_inline_runbooks_keep_their_own_results(make_dataset, tmp_path):
    path = make_dataset("two", n=2000, n_queries=20)
    first = {"steps": [{"insert": {"range": [0, 1000]}}, {"search": {}}]}
    second = {"steps": [{"insert": {"range": [0, 1500]}}, {"search": {}}]}
    experiment = _experiment(path, ["faiss-flat"], runbooks=[first, second])
    run_sweep(expand(experiment, path.parent), tmp_path / "r", executor="inline")
    frame = load_frame(tmp_path / "r")
    assert sorted(frame["active"]) == [1000, 1500]  # both current, neither taken for stale
    assert frame["workload"].nunique() == 2


def test_a_remade_query_set_makes_the_runbook_truth_and_results_stale(make_dataset, cli, tmp_path):
    path = make_dataset("base", n=2000, n_queries=60)
    data = tmp_path / "datasets"
    make = ["--data-dir", data, "datasets", "queries", "base", "--n", "15", "--name", "qs"]
    assert cli(*make, "--select", "hard")[0] == 0
    runbook = {"name": "qs", "steps": [{"insert": {"all": True}}, {"search": {"queries": "qs"}}]}
    experiment = _experiment(path, ["faiss-flat"], runbooks=[runbook])
    run_sweep(expand(experiment, data), tmp_path / "r", executor="inline")
    assert cli(*make, "--select", "easy", "--force")[0] == 0
    frame = load_frame(tmp_path / "r", data_dir=data)
    assert frame.empty or frame["stale"].eq(False).sum() == 0  # the old result is stale now
    run_sweep(expand(experiment, data), tmp_path / "r", executor="inline")
    fresh = load_frame(tmp_path / "r", data_dir=data)
    assert list(fresh["recall"]) == [1.0]  # the exact index, against the new queries' truth
