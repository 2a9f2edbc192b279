"""Retrieval quality of stored runs on judged tasks: nDCG@10, RR@10 and Recall@100 against
the task's relevance judgements, computed from each sweep point's stored answers when results
are loaded (so no rerun is ever needed), beside recall against the exact neighbours.

A dataset is judged when its file was made from a judged task (``annbench tasks embed``):
its source names the task and the task's hash, its base rows are the task's documents and
its queries the task's queries, in the task's order, so a stored answer id *is* a document
row. The reference is exact search: the dataset's own ground truth (top 100) scored the same
way.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from annbench.analysis.quality import MEASURES, quality_per_query
from annbench.datasets.judged_vectors import GENERATOR
from annbench.errors import UserError


@functools.lru_cache(maxsize=256)
def _source(path: str, mtime_ns: int) -> dict:
    from annbench.datasets.store import dataset_info

    try:
        return dataset_info(path)["source"]
    except (UserError, OSError, KeyError):
        return {}


def judged_source(path: str | os.PathLike) -> dict | None:
    """The judged-embedding source of the dataset file at ``path``, or None when the file is
    absent or was not made from a judged task."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    source = _source(str(Path(path).resolve()), stat.st_mtime_ns)
    return source if source.get("generator") == GENERATOR else None


class Qrels:
    """A judged task's qrels, loaded once per task file and content."""

    def __init__(self, data_dir: str | os.PathLike):
        self.data_dir = data_dir
        self._loaded: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def of(self, source: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query rows, document rows, grades) of the task ``source`` names; one line when the
        task file is gone or its content has changed since the vectors were made."""
        from annbench.datasets.judged import load_task, read_task_hash, task_path

        path = task_path(source["task"], self.data_dir)
        if not path.exists():
            raise UserError(
                f"task {source['task']!r} is not in {path.parent}; make it again with "
                f"`annbench tasks make {source['task']}`"
            )
        key = (str(path), source["task_hash"])
        if key not in self._loaded:
            if read_task_hash(path) != source["task_hash"]:
                raise UserError(
                    f"task {source['task']!r} has changed since its vectors were made; "
                    f"embed it again with `annbench tasks embed {source['task']} --force`"
                )
            task = load_task(path)
            self._loaded[key] = (task.qrels_query, task.qrels_doc, task.qrels_grade)
        return self._loaded[key]


def dataset_file(name: str, path: str, data_dir: str | os.PathLike | None) -> Path:
    """Where dataset ``name`` (run from ``path``) is now: the data folder's copy first."""
    if data_dir is not None:
        candidate = Path(data_dir) / f"{name}.hdf5"
        if candidate.exists():
            return candidate
    return Path(path)


def point_quality(ids: np.ndarray, qrels) -> dict[str, float]:
    """Mean of every measure over the judged queries (NaN where a cut-off is deeper than
    the answers)."""
    values = quality_per_query(ids, *qrels)
    return {
        name: float(np.nanmean(v)) if np.isfinite(v).any() else np.nan for name, v in values.items()
    }


class QualityColumns:
    """A ``load_frame`` hook: for a result on a judged dataset, the task, the model and every
    measure per sweep point; None for any other result. A task that is gone or has changed
    leaves its results without measures, said once in ``problems``."""

    def __init__(self, data_dir: str | os.PathLike | None, qrels: Qrels | None = None):
        self.data_dir = data_dir
        self.qrels = qrels or Qrels(data_dir)
        self.problems: list[str] = []

    def __call__(self, result) -> list[dict] | None:
        if result.status != "ok" or not result.points or result.job.runbook:
            return None
        job = result.job
        source = judged_source(dataset_file(job.dataset, job.dataset_path, self.data_dir))
        if source is None:
            return None
        try:
            judged = self.qrels.of(source)
        except UserError as exc:
            if str(exc) not in self.problems:
                self.problems.append(str(exc))
            return None
        return [
            {"task": source["task"], "model": source["model"], **point_quality(p.ids, judged)}
            for p in result.points
        ]


def judged_frame(
    results_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    include_stale: bool = False,
    qrels: Qrels | None = None,
):
    """Every stored sweep point on a judged dataset, with the task, the model and nDCG@10,
    RR@10 and Recall@100 beside the usual columns (empty when there is none). ``qrels``:
    the tasks' judgements already loaded, to share with ``exact_references``."""
    from annbench.store.frame import load_frame

    hook = QualityColumns(data_dir, qrels)
    frame = load_frame(
        results_dir, data_dir=data_dir, include_stale=include_stale, extra_columns=hook
    )
    notes = frame.attrs.get("notes", []) + [f"no quality measures: {p}" for p in hook.problems]
    if "task" not in frame.columns:
        frame = frame.iloc[0:0].assign(task=None, model=None, **{m: np.nan for m in MEASURES})
    else:
        frame = frame[frame["task"].notna()].reset_index(drop=True)
    frame.attrs["notes"] = notes
    return frame


def exact_quality(path: str | os.PathLike, qrels: Qrels, k: int = 100) -> dict:
    """The reference: every measure of exact search on the judged dataset at ``path``, from its
    stored ground truth (the first ``k`` neighbours; nothing else of the file is read)."""
    from annbench.datasets.store import open_h5

    source = judged_source(path)
    if source is None:
        raise UserError(
            f"{path} was not made from a judged task, so it has no relevance judgements; "
            "make one with `annbench tasks make` and `annbench tasks embed`"
        )
    with open_h5(path, "dataset", "embed the task again with `annbench tasks embed`") as f:
        if "neighbors" not in f:
            raise UserError(f"{path} has no ground truth; embed the task again")
        neighbors = f["neighbors"][:, :k]
    return {
        "task": source["task"],
        "model": source["model"],
        **point_quality(neighbors, qrels.of(source)),
    }


def has_judged(frame, data_dir: str | os.PathLike | None) -> bool:
    """Whether any dataset among the rows of ``frame`` was made from a judged task."""
    pairs = frame[["dataset", "dataset_path"]].drop_duplicates()
    return any(
        judged_source(dataset_file(name, path, data_dir)) is not None
        for name, path in pairs.itertuples(index=False)
    )


def exact_references(judged, data_dir: str | os.PathLike, qrels: Qrels | None = None):
    """One dict per dataset among the rows of ``judged``: its name and exact search's
    measures (see ``exact_quality``)."""
    qrels = qrels or Qrels(data_dir)
    references = []
    for _, row in judged.drop_duplicates("dataset").sort_values("dataset").iterrows():
        path = dataset_file(row["dataset"], row["dataset_path"], data_dir)
        references.append({"dataset": row["dataset"], **exact_quality(path, qrels)})
    return references
