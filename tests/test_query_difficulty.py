"""Per-query difficulty measures, query sets chosen by them, and out-of-distribution queries
(annbench/intrinsic/difficulty.py, datasets/query_measures.py, queries.py, ood.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from annbench.datasets.groundtruth import with_ground_truth
from annbench.datasets.queries import select_queries
from annbench.datasets.store import dataset_info, load_dataset
from annbench.datasets.synthetic import make_synthetic
from annbench.intrinsic.difficulty import query_lid

from .conftest import ann_benchmarks_file


def _brute_force(base, queries, metric):
    b, q = base.astype(np.float64), queries.astype(np.float64)
    if metric == "euclidean":
        return np.sqrt(((q[:, None, :] - b[None]) ** 2).sum(-1))
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    return 1 - q @ b.T


def _independent_lid(row: np.ndarray) -> float:
    r = row[row > 0]
    if len(r) < 2 or r[-1] == r[0]:
        return float("nan")
    return (len(r) - 1) / float(np.sum(np.log(r[-1] / r)))


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_measures_equal_an_independent_numpy_computation(metric):
    dataset = make_synthetic("blobs", {"n": 1500, "n_queries": 30, "dim": 12}, metric=metric)
    dataset.queries[0] = dataset.base[7]  # a query that is a base vector: r_1 = 0
    with_ground_truth(dataset, 100, progress=False)
    all_distances = np.sort(_brute_force(dataset.base, dataset.queries, metric), axis=1)
    measures = dataset.query_measures
    np.testing.assert_allclose(
        measures["mean_distance"], all_distances.mean(axis=1), rtol=1e-5, atol=1e-7
    )
    for k in (10, 100):
        expected = [_independent_lid(row[:k]) for row in all_distances]
        np.testing.assert_allclose(measures[f"lid_{k}"], expected, rtol=1e-4)
    for k in (1, 10, 100):
        r_k = all_distances[:, k - 1]
        mean = all_distances.mean(axis=1)
        expected = np.where(r_k > 1e-6, mean / np.maximum(r_k, 1e-300), np.inf)
        got = measures[f"rc_{k}"]
        assert np.array_equal(np.isinf(got), np.isinf(expected)), k
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-4)
    expected = all_distances[:, 19] / all_distances[:, 9]
    np.testing.assert_allclose(measures["expansion_10"], expected, rtol=1e-4)
    # the duplicate: no self-match to drop, its zero distance left out of the LID, RC_1 infinite
    assert np.isinf(measures["rc_1"][0]) and np.isfinite(measures["lid_10"][0])
    sample = dataset.base.astype(np.float64)
    if metric == "angular":
        sample /= np.linalg.norm(sample, axis=1, keepdims=True)
    centred = sample - sample.mean(axis=0)
    variance = (centred**2).mean(axis=0)
    q = dataset.queries.astype(np.float64)
    if metric == "angular":
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    diagonal = np.sqrt(
        (((q - sample.mean(axis=0)) ** 2) / (variance + 1e-3 * variance.mean())).sum(1)
    )
    np.testing.assert_allclose(measures["mahalanobis_diag"], diagonal, rtol=1e-6)


def test_lid_of_degenerate_rows_is_undefined_not_a_crash():
    rows = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])
    lid = query_lid(rows, 3)
    assert np.isnan(lid[0]) and np.isnan(lid[1])
    assert lid[2] == pytest.approx(1 / np.log(2.0))


def test_query_lid_tracks_the_intrinsic_dimension_and_contrast_falls():
    means, contrast = {}, {}
    for d_int in (2, 4, 8, 16):
        params = {"n": 20000, "n_queries": 200, "dim": 64, "d_int": d_int}
        dataset = with_ground_truth(make_synthetic("subspace", params), 100, progress=False)
        means[d_int] = float(np.nanmean(dataset.query_measures["lid_100"]))
        contrast[d_int] = float(np.mean(dataset.query_measures["rc_10"]))
    for d_int in (4, 16):
        assert abs(means[d_int] - d_int) <= 0.25 * d_int, means
    assert contrast[2] > contrast[4] > contrast[8] > contrast[16], contrast


def test_measures_are_stored_and_readable_with_plain_h5py(make_dataset):
    path = make_dataset("stored")
    with h5py.File(path, "r") as f:
        lid = f["query_measures/lid_10"][:]
        assert lid.shape == (f["test"].shape[0],) and np.isfinite(lid).all()
        assert "rc_100" in f["query_measures"] and "expansion_10" in f["query_measures"]
    assert "lid_100" in dataset_info(path)["query_measures"]


def test_describe_queries_adds_measures_to_an_ann_benchmarks_file(tmp_path, cli):
    data = tmp_path / "data"
    data.mkdir()
    path = shutil.copy(ann_benchmarks_file("euclidean"), data / "xs.hdf5")
    assert dataset_info(path)["query_measures"] == []
    status, out, err = cli("--data-dir", data, "datasets", "describe", "xs", "--queries")
    assert status == 0, err
    assert "lid_100" in out and "rc_10" in out
    assert "mean distance over all" in out
    assert "lid_100" in dataset_info(path)["query_measures"]
    # a file outside the data folder is described but left untouched
    outside = shutil.copy(ann_benchmarks_file("angular"), tmp_path / "elsewhere.hdf5")
    before = Path(outside).read_bytes()
    status, out, err = cli("--data-dir", data, "datasets", "describe", outside, "--queries")
    assert status == 0 and "not stored" in err
    assert Path(outside).read_bytes() == before


def test_selections_pick_by_difficulty_in_the_right_direction():
    values = np.array([5.0, 1.0, np.nan, 3.0, 9.0, 7.0, 2.0])
    assert sorted(select_queries(values, "lid_100", "easy", 2)) == [1, 6]
    assert sorted(select_queries(values, "lid_100", "hard", 2)) == [4, 5]
    # low relative contrast is hard
    assert sorted(select_queries(values, "rc_10", "hard", 2)) == [1, 6]
    assert sorted(select_queries(values, "lid_100", "medium", 2)) == [0, 3]
    spread = np.arange(100, dtype=float)
    chosen = select_queries(spread, "lid_100", "diverse", 5)
    assert np.abs(np.sort(spread[chosen]) - np.linspace(0, 99, 5)).max() <= 0.5
    assert 2 not in select_queries(values, "lid_100", "diverse", 6)


def test_query_set_keeps_the_base_and_the_chosen_rows(make_dataset, cli, tmp_path):
    make_dataset("parent", n=3000, n_queries=100)
    data = tmp_path / "datasets"
    status, out, err = cli(
        "--data-dir", data, "datasets", "queries", "parent", "--select", "hard", "--n", "20"
    )
    assert status == 0, err
    parent = load_dataset(data / "parent.hdf5")
    chosen = load_dataset(data / "parent-hard-lid100-20.hdf5")
    rows = chosen.query_parents
    assert len(rows) == 20
    assert np.array_equal(chosen.base, parent.base)
    assert np.array_equal(chosen.queries, parent.queries[rows])
    assert np.array_equal(chosen.neighbors, parent.neighbors[rows])
    lid = parent.query_measures["lid_100"]
    assert chosen.query_measures["lid_100"].min() >= np.sort(lid)[-20]
    assert chosen.source["select"] == "hard" and chosen.source["by"] == "lid_100"
    assert chosen.source["parent"] == "parent"


def test_hard_queries_by_lid_get_lower_hnswlib_recall_than_easy(tmp_path):
    """blobs-20k-64 (the catalog recipe), hnswlib at M=16, ef_construction=128, ef=10."""
    from annbench.datasets.catalog import resolve_dataset
    from annbench.run.plan import Experiment
    from annbench.studies.common import run_study
    from annbench.studies.difficulty import study_datasets

    data, results = tmp_path / "data", tmp_path / "results"
    resolve_dataset("blobs-20k-64", data, progress=False)
    names = study_datasets("blobs-20k-64", data, progress=False)
    experiment = Experiment(
        datasets=[names["easy"], names["hard"]],
        adapters=[
            {
                "name": "hnswlib",
                "build": {"M": [16], "ef_construction": [128]},
                "query": {"ef": [10]},
            }
        ],
        k=10,
        repeats=1,
        warmup=0,
        build_threads=[1],
    )
    frame = run_study(experiment, data, results, executor="inline").set_index("dataset")
    easy, hard = frame.loc[names["easy"], "recall"], frame.loc[names["hard"], "recall"]
    assert hard < easy - 0.02, (easy, hard)


@pytest.mark.parametrize("kind", ["noise", "tilt", "clusters"])
def test_ood_shift_grows_with_its_parameter(make_dataset, cli, tmp_path, kind):
    make_dataset("base", generator="subspace", n=3000, n_queries=60, dim=24, d_int=6)
    data = tmp_path / "datasets"
    means = []
    shifts = (0.0, 0.25, 0.5, 1.0) if kind == "tilt" else (0.0, 0.5, 1.0, 2.0)
    for step, shift in enumerate(shifts):
        status, out, err = cli(
            "--data-dir", data, "datasets", "ood", "base", "--kind", kind,
            "--shift", shift, "--n", "60", "--name", f"ood-{step}",
        )  # fmt: skip
        assert status == 0, err
        shifted = load_dataset(data / f"ood-{step}.hdf5")
        means.append(float(np.mean(shifted.query_measures["mahalanobis"])))
        # the ground truth of the new queries is exact
        truth = np.argsort(_brute_force(shifted.base, shifted.queries, "euclidean"), axis=1)
        assert (shifted.neighbors[:, 0] == truth[:, 0]).mean() > 0.98
        assert shifted.source["generator"] == "ood" and shifted.source["parent"] == "base"
    assert means == sorted(means) and means[-1] > 1.5 * means[0], means


def test_text_kinds_need_a_wordnet_dataset(make_dataset, cli, tmp_path):
    make_dataset("numbers")
    status, out, err = cli(
        "--data-dir", tmp_path / "datasets", "datasets", "ood", "numbers", "--kind", "words"
    )
    assert status == 2 and "wordnet-minilm" in err and len(err.strip().splitlines()) == 1


def test_wordnet_text_of_another_kind_is_read():
    from annbench.datasets.wordnet import WORDNET_DIR, read_query_texts

    if not WORDNET_DIR.is_dir():
        pytest.skip("wordnet-base absent")
    words = read_query_texts("words")
    examples = read_query_texts("examples")
    assert "big cat" in words and len(words) > 100_000
    assert len(examples) > 40_000 and all('"' not in text for text in examples[:1000])
    assert not any(text.endswith("(a)") for text in words)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["queries", "bad", "--select", "hard", "--by", "nonsense", "--n", "5"], "nonsense"),
        (["queries", "bad", "--select", "worst", "--n", "5"], "worst"),
        (["queries", "bad", "--select", "hard", "--n", "500"], "--n between 1 and"),
        (["queries", "bad", "--select", "hard", "--n", "0"], "--n between 1 and"),
        (["ood", "bad", "--kind", "noise", "--shift", "-1"], "--shift"),
        (["ood", "bad", "--kind", "noise", "--shift", "nan"], "--shift"),
        (["ood", "bad", "--kind", "sideways"], "sideways"),
        (["ood", "bad", "--kind", "tilt", "--shift", "1.5"], "90 degrees"),
        (["queries", "absent", "--select", "hard", "--n", "5"], "absent"),
    ],
)
def test_bad_input_is_one_line_and_nothing_changes(make_dataset, cli, tmp_path, args, expected):
    path = make_dataset("bad")
    before = path.read_bytes()
    status, out, err = cli("--data-dir", tmp_path / "datasets", "datasets", *args)
    assert status == 2, (out, err)
    assert expected in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["bad.hdf5"]


def test_review_mends_one_line_and_true_rotations(make_dataset, cli, tmp_path):
    import numpy as np

    from annbench.datasets.ood import shifted_queries
    from annbench.datasets.queries import select_queries
    from annbench.errors import UserError

    with pytest.raises(UserError, match="no query has a finite value"):
        select_queries(np.array([np.inf, np.inf, np.inf]), "rc_1", "diverse", 2)
    path = make_dataset("iso", generator="gauss", n=2000, n_queries=40, dim=8)
    data = tmp_path / "datasets"
    dataset = load_dataset(path)
    mean = dataset.base.astype(np.float64).mean(axis=0)
    turned = shifted_queries(dataset, "tilt", 1.0, 40, np.random.default_rng(0))
    rows = np.random.default_rng(0).choice(40, size=40, replace=False)
    before = np.linalg.norm(dataset.queries[rows] - mean, axis=1)
    np.testing.assert_allclose(np.linalg.norm(turned - mean, axis=1), before, rtol=1e-4)
    before_bytes = path.read_bytes()
    status, _, err = cli(
        "--data-dir", data, "datasets", "queries", "iso", "--select", "hard", "--n", "5",
        "--name", "iso", "--force",
    )  # fmt: skip
    assert status == 2 and "the dataset the queries come from" in err
    assert path.read_bytes() == before_bytes
    status, _, err = cli(
        "--data-dir", data, "datasets", "ood", "iso", "--kind", "noise", "--shift", "1e30",
        "--n", "3", "--name", "far",
    )  # fmt: skip
    assert status == 2 and "smaller shift" in err and len(err.strip().splitlines()) == 1
