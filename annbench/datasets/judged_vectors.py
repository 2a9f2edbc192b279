"""A judged task embedded with one model: an ordinary ann-benchmarks dataset file
``DATA/<task>.<model>.hdf5`` whose base rows are the task's documents and whose queries are
the task's queries, in the task's order, with exact ground truth (angular: every model emits
unit vectors). Its source names the task, the task's hash and the model, which is how the
results store finds the relevance judgements for its runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from annbench.errors import UserError

GENERATOR = "judged-embedding"
GROUND_TRUTH_K = 100


def vectors_name(task: str, model: str) -> str:
    """The dataset name of ``task`` embedded with ``model``."""
    return f"{task}.{model}"


def load_judged_task(name: str, data_dir: str | os.PathLike):
    """The task called ``name`` in the data folder, refused in one line when it is not there."""
    from annbench.datasets.judged import load_task, task_path

    path = task_path(name, data_dir)
    if not path.exists():
        raise UserError(
            f"task {name!r} is not in {path.parent}; make it with `annbench tasks make` "
            "(see `annbench tasks list`)"
        )
    return load_task(path)


def embed_task(
    name: str,
    model: str,
    data_dir: str | os.PathLike,
    *,
    threads: int | None = None,
    progress: bool | None = None,
    force: bool = False,
) -> Path:
    """The dataset file of task ``name`` embedded with ``model``, made where missing or where
    the task or the embeddings changed (and with ``force``); embeddings come from the cache
    when the same model version embedded the same task content before."""
    from annbench.datasets.catalog import dataset_path
    from annbench.datasets.embeddings import cache_dir, embed_task_texts
    from annbench.datasets.groundtruth import save_with_ground_truth
    from annbench.datasets.judged import task_hash
    from annbench.datasets.models.registry import model_spec, model_version
    from annbench.datasets.store import Dataset, content_hash, dataset_info

    spec = model_spec(model)
    task = load_judged_task(name, data_dir)
    digest = task_hash(task)
    target = dataset_path(vectors_name(name, model), data_dir)
    documents, queries = embed_task_texts(
        model,
        task.doc_texts,
        task.query_texts,
        digest,
        cache_dir(data_dir),
        threads=threads,
        progress=progress,
    )
    if target.exists() and not force:
        info = dataset_info(target)
        same = info["content_hash"] == content_hash(documents, queries, "angular")
        if same and info["source"].get("task_hash") == digest:
            return target
    source = {
        "generator": GENERATOR,
        "task": name,
        "task_hash": digest,
        "task_source": task.source,
        "model": model,
        "model_source": spec.source,
        "model_version": model_version(model),
        "dimension": int(documents.shape[1]),
        "label_names": task.label_names,
    }
    dataset = Dataset(
        base=documents,
        queries=queries,
        metric="angular",
        labels=task.doc_labels,
        source=source,
    )
    k = min(GROUND_TRUTH_K, len(documents))
    return save_with_ground_truth(dataset, target, k=k, overwrite=True, progress=progress)
