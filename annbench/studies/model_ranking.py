"""The model-ranking study (Elliott & Clark, ICTIR 2024, finding three): does evaluating
embedding models through an ANN index instead of exact search change which model wins?

Every installed model embeds one judged task; each embedding is searched exactly and with
hnswlib, faiss-hnsw and pgvector at the survey's defaults (M=16, efConstruction=128,
efSearch 10 and 40) and at each library's own defaults, in random insertion order, and the
two in-memory graphs also in category order and by LID (findings one and two of the paper).
nDCG@10 against the task's relevance judgements ranks the models under each configuration;
Kendall's tau and the largest rank shift say how far each configuration reorders them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from annbench.run.plan import Experiment
from annbench.studies.common import STUDY_EF_CONSTRUCTION, STUDY_EF_SEARCH, STUDY_M

DEFAULT_DOCS = 5000
DEFAULT_QUERIES = 500
ORDERS = ("random", "label-grouped", "lid-asc")
EXACT_ADAPTER = "faiss-flat"

SURVEY = {
    "hnswlib": ({"M": STUDY_M, "ef_construction": STUDY_EF_CONSTRUCTION}, "ef"),
    "faiss-hnsw": (
        {"M": STUDY_M, "ef_construction": STUDY_EF_CONSTRUCTION, "add_batch_size": 1},
        "ef_search",
    ),
    "pgvector": ({"m": STUDY_M, "ef_construction": STUDY_EF_CONSTRUCTION}, "ef_search"),
}
# each library's own defaults: hnswlib's init_index (M=16, ef_construction=200) and its
# query ef (10); faiss's IndexHNSWFlat as index_factory "HNSW32" builds it (efConstruction
# 40, efSearch 16); pgvector's README (m=16, ef_construction=64, hnsw.ef_search=40)
VENDOR = {
    "hnswlib": ({"M": 16, "ef_construction": 200}, {"ef": 10}),
    "faiss-hnsw": ({"M": 32, "ef_construction": 40, "add_batch_size": 0}, {"ef_search": 16}),
    "pgvector": ({"m": 16, "ef_construction": 64}, {"ef_search": 40}),
}


def _method(name: str, build: dict, query: dict) -> dict:
    return {
        "name": name,
        "build": {key: [value] for key, value in build.items()},
        "query": {key: list(value) for key, value in query.items()},
    }


def study_methods(
    indexes: Sequence[str] = tuple(SURVEY), ef_search: Sequence[int] = STUDY_EF_SEARCH
) -> tuple[list[dict], list[dict]]:
    """(the methods searched in random order: exact, survey and vendor defaults; the survey
    methods also searched in the other orders), for the installed ``indexes``."""
    from annbench.studies.common import installed

    survey, vendor = [], []
    for name in indexes:
        build, knob = SURVEY[name]
        survey.append(_method(name, build, {knob: ef_search}))
        vendor_build, vendor_query = VENDOR[name]
        vendor.append(_method(name, vendor_build, {k: [v] for k, v in vendor_query.items()}))
    exact = [{"name": EXACT_ADAPTER, "build": {}, "query": {}}]
    in_memory = [m for m in survey if m["name"] != "pgvector"]
    return installed(exact + survey + vendor), installed(in_memory)


def model_ranking_experiments(
    datasets: Sequence[str],
    *,
    indexes: Sequence[str] = tuple(SURVEY),
    ef_search: Sequence[int] = STUDY_EF_SEARCH,
    orders: Sequence[str] = ORDERS,
    seed: int = 0,
) -> list[Experiment]:
    """The study's runs at k = 10 (at k = 100 hnswlib would search with max(ef, k) and
    pgvector return only ef_search rows, so "ef 10" would mean three different things)."""
    everything, reordered = study_methods(indexes, ef_search)
    common = {
        "datasets": list(datasets),
        "k": 10,
        "repeats": 3,
        "warmup": 1,
        "seeds": [seed],
        "build_threads": [1],
        "search_threads": [1],
        "timeout": 900,
    }
    experiments = [Experiment(adapters=everything, orders=[orders[0]], **common)]
    if len(orders) > 1 and reordered:
        experiments.append(Experiment(adapters=reordered, orders=list(orders[1:]), **common))
    return experiments


def preset(adapter: str, build: dict) -> str:
    """``survey`` or ``vendor`` for the study's build parameters, '' for any other."""

    def same(wanted: dict) -> bool:
        return all(build.get(key) == value for key, value in wanted.items())

    if adapter in SURVEY and same(SURVEY[adapter][0]):
        return "survey"
    if adapter in VENDOR and same(VENDOR[adapter][0]):
        return "vendor"
    return ""


def configuration(row) -> str:
    """A configuration's short name: adapter, preset (survey or vendor), query parameters and
    (other than random) the insertion order, e.g. ``hnswlib survey ef=10 [label-grouped]``."""
    from annbench.analysis.ranking import configuration_name

    build = {key[len("build.") :]: value for key, value in row.items() if key.startswith("build.")}
    build = {key: value for key, value in build.items() if value == value}  # drop NaN
    return configuration_name(row, preset(row["adapter"], build))


def study_points(judged, exact: list[dict]):
    """One row per (model, configuration): see analysis.ranking.quality_points."""
    from annbench.analysis.ranking import quality_points

    return quality_points(judged, exact, name=configuration)


def summarise(points) -> dict:
    """The study's tables: ``quality`` (every measure per model and configuration), and
    from nDCG@10: ``scores``, ``ranks`` and ``agreement`` (see analysis.ranking)."""
    from annbench.analysis.ranking import model_ranking

    return {"quality": points, **model_ranking(points, "ndcg@10")}


def run_model_ranking(
    datasets: Sequence[str],
    data_dir: str | os.PathLike,
    results_dir: str | os.PathLike,
    *,
    indexes: Sequence[str] = tuple(SURVEY),
    orders: Sequence[str] = ORDERS,
    seed: int = 0,
    executor: str = "process",
    echo=None,
) -> dict:
    """Run the study's experiments on ``datasets`` (one per model) and summarise them."""
    from annbench.errors import UserError
    from annbench.store.quality import Qrels, exact_references, judged_frame
    from annbench.studies.common import run_jobs

    run_ids: set[str] = set()
    for experiment in model_ranking_experiments(
        datasets, indexes=indexes, orders=orders, seed=seed
    ):
        run_ids |= run_jobs(experiment, data_dir, results_dir, executor=executor, echo=echo)
    qrels = Qrels(data_dir)
    judged = judged_frame(results_dir, data_dir, qrels=qrels)
    judged = judged[judged["run_id"].isin(run_ids) & judged["status"].eq("ok")]
    if judged.empty:
        raise UserError("every run of the study failed; see `annbench results`")
    return summarise(study_points(judged, exact_references(judged, data_dir, qrels)))


def study_datasets(
    task: str,
    models: Sequence[str],
    data_dir: str | os.PathLike,
    *,
    threads: int | None = None,
    progress: bool | None = None,
) -> dict[str, str]:
    """model -> the dataset name of ``task`` embedded with it, made where missing."""
    from annbench.datasets.judged_vectors import embed_task

    return {
        model: embed_task(task, model, data_dir, threads=threads, progress=progress).stem
        for model in models
    }


def study_task(
    task: str,
    data_dir: str | os.PathLike,
    *,
    n_docs: int | None = DEFAULT_DOCS,
    n_queries: int | None = DEFAULT_QUERIES,
    seed: int = 0,
) -> str:
    """The name of the task the study runs on: a generated task (``wordnet-examples``) made
    and sliced to ``n_docs`` documents and ``n_queries`` queries (None: the whole task), or a
    task already in the data folder, whole."""
    from annbench.datasets.judged import task_path
    from annbench.datasets.judged_wordnet import TASK_MAKERS, make_task

    if task in TASK_MAKERS:
        return make_task(task, data_dir, n_docs=n_docs, n_queries=n_queries, seed=seed).stem
    if task_path(task, data_dir).exists():
        return task
    from annbench.errors import UserError

    raise UserError(
        f"unknown task {task!r}; make one of {', '.join(TASK_MAKERS)} or import one with "
        "`annbench tasks import` (see `annbench tasks list`)"
    )
