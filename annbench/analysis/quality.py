"""Retrieval quality against relevance judgements (qrels), from the answers an index returned:
nDCG@10, RR@10 (MRR@10 over queries) and Recall@100, per query, computed by ir-measures
(trec_eval's own code through pytrec-eval-terrier, and its MS MARCO evaluator for the cut-off
reciprocal rank), never by hand.

Conventions:
- qrels are three aligned integer arrays: query row, document id (a base id) and grade (> 0
  relevant; 0 judged not relevant); a query without qrels is not judged.
- answers are the stored ``ids`` (n_queries, k), nearest first, -1 padded. Each answer's
  score handed to the evaluator is ``k - rank``, so the harness's order is the order judged
  (trec_eval would otherwise break ties of equal scores by document id).
- a cut-off beyond the answers' depth (Recall@100 of k = 10 answers) is not computed: NaN.
"""

from __future__ import annotations

import numpy as np

from annbench.errors import UserError

MEASURES = ("ndcg@10", "rr@10", "recall@100")


def check_qrels(
    queries: np.ndarray, documents: np.ndarray, grades: np.ndarray, n_queries: int, n_docs: int
) -> None:
    """Refuse qrels that do not fit their task in one line: unequal lengths, query rows or
    document ids out of range, negative grades, no relevant document at all."""
    if not len(queries) == len(documents) == len(grades):
        raise UserError(
            f"qrels have {len(queries)} queries, {len(documents)} documents and {len(grades)} "
            "grades; they must be aligned triples"
        )
    for name, values, bound in (("query", queries, n_queries), ("document", documents, n_docs)):
        outside = (values < 0) | (values >= bound)
        if outside.any():
            raise UserError(
                f"qrels name {name} {int(values[outside][0])}, outside the task's {bound} "
                f"{name}s ({int(outside.sum())} such judgements); rebuild the qrels"
            )
    if (grades < 0).any():
        raise UserError(f"qrels hold a negative grade ({int(grades.min())}); grades are >= 0")
    if not (grades > 0).any():
        raise UserError("qrels judge no document relevant; nothing to measure")


def _qrels(queries, documents, grades) -> dict[str, dict[str, int]]:
    judged: dict[str, dict[str, int]] = {}
    for query, document, grade in zip(queries.tolist(), documents.tolist(), grades.tolist()):
        judged.setdefault(str(query), {})[str(document)] = int(grade)
    return judged


def _run(ids: np.ndarray) -> dict[str, dict[str, float]]:
    run = {}
    for row, answer in enumerate(ids):
        answer = answer[answer >= 0]
        run[str(row)] = {
            str(int(doc)): float(len(answer) - rank) for rank, doc in enumerate(answer)
        }
    return run


def quality_per_query(
    ids: np.ndarray, queries: np.ndarray, documents: np.ndarray, grades: np.ndarray
) -> dict[str, np.ndarray]:
    """Per query row of ``ids``: nDCG@10, RR@10 and Recall@100 against the qrels (NaN for a
    query without qrels, and for a cut-off deeper than the answers)."""
    import ir_measures
    from ir_measures import RR, R, nDCG

    ids = np.asarray(ids)
    measures = {"ndcg@10": nDCG @ 10, "rr@10": RR @ 10, "recall@100": R @ 100}
    depth = {"ndcg@10": 10, "rr@10": 10, "recall@100": 100}
    names = {measure: name for name, measure in measures.items()}
    judged = np.zeros(len(ids), dtype=bool)
    judged[np.unique(queries[grades >= 0])] = True
    values = {name: np.where(judged, 0.0, np.nan) for name in MEASURES}
    evaluator = ir_measures.evaluator(list(measures.values()), _qrels(queries, documents, grades))
    for metric in evaluator.iter_calc(_run(ids)):
        values[names[metric.measure]][int(metric.query_id)] = metric.value
    for name in MEASURES:
        if depth[name] > ids.shape[1]:
            values[name][:] = np.nan
    return values
