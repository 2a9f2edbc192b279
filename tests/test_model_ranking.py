"""Downstream retrieval quality: nDCG@10 per sweep point on judged tasks, exact search as the
reference, the model-ranking study end to end on a WordNet slice with real models and real
indexes, its report page, and bad input refused in one line."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pandas as pd
import pytest

from annbench.analysis.quality import quality_per_query
from annbench.analysis.ranking import EXACT, kendall_tau, model_ranking, ranks
from annbench.datasets.wordnet import WORDNET_DIR
from tests.conftest import absent

MODELS = ("tfidf-svd", "paraphrase-minilm-l3")
TASK = "wordnet-examples-400d-50q-s0"


def one_line_error(status: int, err: str, *words: str) -> None:
    assert status == 2, err
    assert err.startswith("annbench: error:") and err.strip().count("\n") == 0, err
    for word in words:
        assert word in err, err


# --- ranking tables (pure) ------------------------------------------------------------------


def test_ranks_share_the_better_rank_and_keep_nan():
    assert ranks([0.3, 0.5, 0.5, math.nan]).tolist()[:3] == [3, 1, 1]
    assert math.isnan(ranks([0.3, math.nan])[1])


def test_kendall_tau_is_scipys_and_undefined_for_constant_scores():
    from scipy.stats import kendalltau

    a, b = [0.1, 0.4, 0.3, 0.9], [0.2, 0.1, 0.5, 0.8]
    assert kendall_tau(a, b)[0] == pytest.approx(kendalltau(a, b).statistic)
    assert math.isnan(kendall_tau([0.1, 0.2], [0.5, 0.5])[0])
    assert math.isnan(kendall_tau([0.1], [0.2])[0])


def test_model_ranking_finds_the_shift_and_the_drop():
    points = pd.DataFrame(
        [
            ("a", EXACT, 0.50),
            ("b", EXACT, 0.40),
            ("c", EXACT, 0.30),
            ("a", "hnsw ef=10", 0.35),  # falls below b and c: two places down
            ("b", "hnsw ef=10", 0.39),
            ("c", "hnsw ef=10", 0.36),
            ("a", "hnsw ef=40", 0.50),
            ("b", "hnsw ef=40", 0.40),
            ("c", "hnsw ef=40", 0.30),
        ],
        columns=["model", "configuration", "ndcg@10"],
    )
    tables = model_ranking(points)
    agreement = tables["agreement"].set_index("configuration")
    assert tables["ranks"].loc["a", "hnsw ef=10"] == 3
    assert agreement.loc["hnsw ef=10", "largest_shift"] == 2
    assert agreement.loc["hnsw ef=10", "moved"] == "a +2, b -1, c -1"
    assert agreement.loc["hnsw ef=10", "kendall_tau"] == pytest.approx(-1 / 3)
    assert agreement.loc["hnsw ef=10", "max_drop"] == pytest.approx(0.15)
    assert agreement.loc["hnsw ef=40", "kendall_tau"] == pytest.approx(1.0)
    assert agreement.loc["hnsw ef=40", "largest_shift"] == 0


# --- the study on a WordNet slice -----------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The model-ranking study on a 400-document, 50-query slice of wordnet-examples, two
    models, hnswlib only, random and category insertion orders."""
    if not WORDNET_DIR.is_dir():
        absent(f"{WORDNET_DIR} is absent; apt-get install wordnet-base")
    from annbench.cli import main
    from annbench.datasets.models.registry import missing_module, model_spec

    for model in MODELS:
        missing = missing_module(model_spec(model))
        if missing:
            absent(f"model {model} needs {missing}; pip install 'annbench[embed-onnx]'")

    root = tmp_path_factory.mktemp("model-ranking")
    folders = ["--data-dir", root / "data", "--results-dir", root / "results"]
    args = [
        *folders,
        "experiment",
        "model-ranking",
        "wordnet-examples",
        "--docs",
        "400",
        "--queries",
        "50",
        "--models",
        ",".join(MODELS),
        "--indexes",
        "hnswlib",
        "--orders",
        "random,label-grouped",
        "--no-progress",
    ]
    status = main([str(a) for a in args])
    assert status == 0
    return root, folders


def test_the_study_ranks_every_model_under_every_configuration(study):
    root, _ = study
    quality = pd.read_csv(root / "results" / "studies" / f"model-ranking-{TASK}.csv")
    assert set(quality["model"]) == set(MODELS)
    expected = {
        EXACT,
        "faiss-flat",
        "hnswlib survey ef=10",
        "hnswlib survey ef=40",
        "hnswlib vendor ef=10",
        "hnswlib survey ef=10 [label-grouped]",
        "hnswlib survey ef=40 [label-grouped]",
    }
    assert set(quality["configuration"]) == expected
    by = quality.set_index(["model", "configuration"])
    for model in MODELS:
        # exact search run through the harness scores exactly as the ground truth does
        assert by.loc[(model, "faiss-flat"), "ndcg@10"] == pytest.approx(
            by.loc[(model, EXACT), "ndcg@10"], abs=1e-12
        )
        assert 0 < by.loc[(model, EXACT), "ndcg@10"] <= 1
        assert 0 < by.loc[(model, EXACT), "recall@100"] <= 1
        assert math.isnan(by.loc[(model, "hnswlib survey ef=10"), "recall@100"])  # k = 10
    agreement = pd.read_csv(root / "results" / "studies" / f"model-ranking-{TASK}-agreement.csv")
    assert len(agreement) == len(expected) - 1
    assert agreement["kendall_tau"].dropna().between(-1, 1).all()
    assert (agreement["largest_shift"] >= 0).all()
    flat = agreement.set_index("configuration").loc["faiss-flat"]
    assert flat["largest_shift"] == 0 and flat["max_drop"] == pytest.approx(0, abs=1e-12)
    for suffix in ("exact-vs-index.png", "ndcg-qps.svg"):
        assert (root / "results" / "studies" / f"model-ranking-{TASK}-{suffix}").stat().st_size


def test_exact_ndcg_equals_ndcg_of_brute_force_numpy_neighbours(study):
    from annbench.store.quality import Qrels, exact_quality, judged_frame

    root, _ = study
    data = root / "data"
    with h5py.File(data / "tasks" / f"{TASK}.hdf5") as f:
        qrels = (f["qrels/query"][:], f["qrels/doc"][:], f["qrels/grade"][:])
    frame = judged_frame(root / "results", data)
    for model in MODELS:
        path = data / f"{TASK}.{model}.hdf5"
        with h5py.File(path) as f:
            base, queries = f["train"][:].astype(np.float64), f["test"][:].astype(np.float64)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        nearest = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :10]
        brute = np.nanmean(quality_per_query(nearest, *qrels)["ndcg@10"])
        assert exact_quality(path, Qrels(data))["ndcg@10"] == pytest.approx(brute, abs=1e-9)
        flat = frame[(frame["adapter"] == "faiss-flat") & (frame["model"] == model)]
        assert flat["recall"].iloc[0] == 1.0
        assert flat["ndcg@10"].iloc[0] == pytest.approx(brute, abs=1e-9)


def test_results_quality_lists_every_judged_point_beside_the_reference(study, cli):
    _, folders = study
    status, out, err = cli(*folders, "results", "--quality", "--format", "csv")
    assert status == 0, err
    from io import StringIO

    table = pd.read_csv(StringIO(out))
    assert (table["adapter"] == "exact (ground truth)").sum() == len(MODELS)
    indexed = table[table["adapter"] == "hnswlib"]
    assert indexed["ndcg@10"].between(0, 1).all() and indexed["recall"].between(0, 1).all()


def test_the_report_has_a_judged_page_with_ranks_and_agreement(study, cli):
    root, folders = study
    status, out, err = cli(*folders, "report")
    assert status == 0, err
    page = (root / "results" / "report" / f"judged-{TASK}.html").read_text()
    for word in (
        *MODELS,
        "Kendall",
        "hnswlib M=16, ef_construction=128 ef=10 [label-grouped]",
        "<img",
    ):
        assert word in page
    index = (root / "results" / "report" / "index.html").read_text()
    assert f"judged-{TASK}.html" in index


# --- bad input ------------------------------------------------------------------------------


def test_quality_of_a_dataset_without_judgements_is_refused(study, cli, make_dataset, tmp_path):
    make_dataset("plain")
    status, _, err = cli(
        "--data-dir", tmp_path / "datasets", "--results-dir", tmp_path / "results",
        "results", "--quality", "--dataset", "plain",
    )  # fmt: skip
    one_line_error(status, err, "plain", "no relevance judgements")
    status, _, err = cli(
        "--data-dir", tmp_path / "datasets", "--results-dir", tmp_path / "results",
        "results", "--quality",
    )  # fmt: skip
    one_line_error(status, err, "no results on a judged task")


def test_an_unknown_model_or_task_is_refused_in_one_line(study, cli):
    _, folders = study
    status, _, err = cli(*folders, "tasks", "embed", TASK, "--model", "bert-huge")
    one_line_error(status, err, "bert-huge", "tfidf-svd")
    status, _, err = cli(*folders, "experiment", "model-ranking", "no-such-task")
    one_line_error(status, err, "no-such-task", "wordnet-examples")
    status, _, err = cli(*folders, "tasks", "embed", "no-such-task", "--model", "tfidf-svd")
    one_line_error(status, err, "no-such-task", "tasks make")


def test_qrels_naming_an_unknown_document_are_refused_and_nothing_is_written(cli, tmp_path):
    (tmp_path / "docs.tsv").write_text("d1\ta cat\nd2\ta dog\n")
    (tmp_path / "queries.tsv").write_text("q1\tfeline\n")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\nq1 0 d9 1\n")
    files = [
        "--docs", tmp_path / "docs.tsv", "--queries", tmp_path / "queries.tsv",
        "--qrels", tmp_path / "qrels.txt",
    ]  # fmt: skip
    data = tmp_path / "data"
    status, _, err = cli("--data-dir", data, "tasks", "import", "toy", *files)
    one_line_error(status, err, "'d9'", "qrels.txt:2")
    assert not (data / "tasks").exists() or not any((data / "tasks").iterdir())
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\nq7 0 d2 1\n")
    status, _, err = cli("--data-dir", data, "tasks", "import", "toy", *files)
    one_line_error(status, err, "'q7'", "qrels.txt:2")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 2\n")
    status, out, err = cli("--data-dir", data, "tasks", "import", "toy", *files)
    assert status == 0 and "1 judgements" in out, err
    status, _, err = cli("--data-dir", data, "tasks", "import", "toy", *files)
    one_line_error(status, err, "--force")
