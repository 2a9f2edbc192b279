"""Retrieval quality against relevance judgements (annbench/analysis/quality.py): nDCG@10,
RR@10 and Recall@100 by ir-measures, checked by hand on a toy task and against brute-force
neighbours, with the harness's answer order kept and bad qrels refused in one line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from annbench.analysis.quality import check_qrels, quality_per_query
from annbench.errors import UserError


def _answers(rows: list[list[int]], k: int) -> np.ndarray:
    ids = np.full((len(rows), k), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids


# five documents; query 0 judges 1 (grade 2), 2 and 3 (grade 1); query 1 judges 4; query 2
# has no judgements
QRELS = (np.array([0, 0, 0, 1]), np.array([1, 2, 3, 4]), np.array([2, 1, 1, 1]))


def test_ndcg_rr_and_recall_match_the_hand_computation():
    ids = _answers([[2, 4, 1], [0, 3], [1]], k=100)
    values = quality_per_query(ids, *QRELS)
    # query 0: gains 1 (rank 1), 0, 2 (rank 3); ideal 2, 1, 1 (linear gains, log2(rank + 1))
    dcg = 1 / math.log2(2) + 2 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert values["ndcg@10"][0] == pytest.approx(dcg / ideal)  # 0.638788
    assert values["rr@10"][0] == 1.0 and values["recall@100"][0] == pytest.approx(2 / 3)
    assert values["ndcg@10"][1] == values["rr@10"][1] == values["recall@100"][1] == 0.0
    assert all(np.isnan(values[name][2]) for name in values)  # not judged


def test_a_cutoff_deeper_than_the_answers_is_not_computed():
    values = quality_per_query(_answers([[2, 4, 1], [4]], k=10), *QRELS)
    assert np.isnan(values["recall@100"]).all()
    assert values["rr@10"][1] == 1.0


def test_the_harness_order_is_the_order_judged():
    """trec_eval breaks equal scores by document id; the answers' own order must count."""
    qrels = (np.array([0]), np.array([7]), np.array([1]))
    values = quality_per_query(_answers([[3, 7]], k=10), *qrels)
    assert values["rr@10"][0] == 0.5


def test_exact_search_scores_as_brute_force_neighbours_do():
    from annbench.adapters.registry import discover, load_adapter_class

    rng = np.random.default_rng(0)
    base = rng.standard_normal((300, 8), dtype=np.float32)
    queries = rng.standard_normal((25, 8), dtype=np.float32)
    spec = discover()["faiss-flat"]
    adapter = load_adapter_class(spec.module_path, spec.class_name)("euclidean")
    adapter.build(base, np.arange(300))
    found = adapter.search(queries, 10)[0]
    distances = ((queries[:, None, :] - base[None]) ** 2).sum(-1)
    brute = np.argsort(distances, axis=1, kind="stable")[:, :10]
    # each query judges three of its true neighbours and three random documents
    judged_d = np.concatenate(
        [rng.choice(brute[q], 3, replace=False) for q in range(25)]
        + [rng.choice(300, 3, replace=False) for _ in range(25)]
    )
    judged_q = np.concatenate([np.repeat(np.arange(25), 3)] * 2)
    pairs = {(int(q), int(d)): int(rng.integers(1, 3)) for q, d in zip(judged_q, judged_d)}
    q, d, g = (np.array(column) for column in zip(*((q, d, g) for (q, d), g in pairs.items())))
    ours, theirs = quality_per_query(found, q, d, g), quality_per_query(brute, q, d, g)
    for name in ("ndcg@10", "rr@10"):
        np.testing.assert_allclose(ours[name], theirs[name])
    assert ours["ndcg@10"].mean() > 0.3  # judged neighbours are found


@pytest.mark.parametrize(
    "qrels,message",
    [
        ((np.array([0]), np.array([9]), np.array([1])), "document 9, outside"),
        ((np.array([5]), np.array([1]), np.array([1])), "query 5, outside"),
        ((np.array([0]), np.array([1]), np.array([-1])), "negative grade"),
        ((np.array([0, 1]), np.array([1]), np.array([1])), "aligned triples"),
        ((np.array([0]), np.array([1]), np.array([0])), "no document relevant"),
    ],
)
def test_bad_qrels_are_refused_in_one_line(qrels, message):
    with pytest.raises(UserError, match=message) as refused:
        check_qrels(*qrels, n_queries=3, n_docs=5)
    assert "\n" not in str(refused.value)
