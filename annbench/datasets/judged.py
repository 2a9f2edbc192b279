"""Judged retrieval tasks: texts of documents and queries, and graded relevance judgements.

A task file lives at ``DATA/tasks/<name>.hdf5`` (apart from the vector datasets, which
``datasets list`` finds as ``DATA/*.hdf5``) and needs nothing of annbench to read:

- ``docs/text``, ``docs/id``, ``queries/text``, ``queries/id``: UTF-8 strings
  (``f["docs/text"].asstr()[:]``); ``docs/label`` (int64) where docs have categories;
- ``qrels/query``, ``qrels/doc`` (int64 rows into queries and docs), ``qrels/grade`` (int8,
  >= 1 relevant, 0 judged not relevant);
- attrs ``annbench_kind`` = "judged-task", ``annbench_format_version``, ``annbench_task_hash``,
  and JSON ``annbench_source``, ``grades`` (grade -> meaning), ``label_names``.

Rows are the join key: a vector file made from a task has ``train[i]`` = ``docs/text[i]`` and
``test[j]`` = ``queries/text[j]``, so the ids an index returns are doc rows.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from annbench.analysis.quality import check_qrels
from annbench.errors import NewerFormat, UserError
from annbench.errors.files import atomic_path
from annbench.errors.names import check_name, inside

TASKS_FOLDER = "tasks"
KIND = "judged-task"
FORMAT_VERSION = 1
MAX_GRADE = int(np.iinfo(np.int8).max)


@dataclass
class JudgedTask:
    """Docs and queries (ids and texts, by row) and their qrels as aligned arrays of rows."""

    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels_query: np.ndarray  # int64 rows into the queries
    qrels_doc: np.ndarray  # int64 rows into the docs
    qrels_grade: np.ndarray  # int8, >= 1 relevant
    doc_labels: np.ndarray | None = None  # int64 category per doc
    label_names: list[str] | None = None
    grades: dict[str, str] = field(default_factory=dict)  # grade -> what it means
    source: dict = field(default_factory=dict)


def task_path(name: str, data_dir: str | os.PathLike) -> Path:
    check_name(name, "task name")
    return inside(data_dir, TASKS_FOLDER, name + ".hdf5")


def _hash_texts(digest, texts: list[str]) -> None:
    encoded = [text.encode("utf-8") for text in texts]
    digest.update(np.int64(len(encoded)).tobytes())
    digest.update(np.fromiter(map(len, encoded), np.int64, len(encoded)).tobytes())
    digest.update(b"".join(encoded))


def task_hash(task: JudgedTask) -> str:
    """sha256 over the format version, doc and query ids and texts, and the qrels arrays (each
    with its length, so no two contents share a byte stream). Labels and grade meanings are
    descriptions, not content: left out."""
    digest = hashlib.sha256(f"{KIND}:{FORMAT_VERSION}".encode())
    for texts in (task.doc_ids, task.doc_texts, task.query_ids, task.query_texts):
        _hash_texts(digest, texts)
    for values, dtype in (
        (task.qrels_query, np.int64),
        (task.qrels_doc, np.int64),
        (task.qrels_grade, np.int8),
    ):
        array = np.ascontiguousarray(values, dtype=dtype)
        digest.update(np.int64(array.size).tobytes())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _whole(values, what: str, where: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "iuf":
        raise UserError(f"{where}: {what} must be a 1-d array of whole numbers")
    if array.dtype.kind == "f" and not (np.isfinite(array) & (array == np.round(array))).all():
        raise UserError(f"{where}: {what} holds values that are not whole numbers")
    return array.astype(np.int64)


def _check_texts(ids: list[str], texts: list[str], kind: str, where: str) -> None:
    if len(ids) != len(texts):
        raise UserError(f"{where}: {len(ids)} {kind} ids but {len(texts)} {kind} texts")
    if not ids:
        raise UserError(f"{where}: holds no {kind}s; a task needs docs, queries and qrels")
    for what, values in (("id", ids), ("text", texts)):
        for row, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise UserError(f"{where}: {kind} row {row} has an empty {what}")
    first: dict[str, int] = {}
    for row, ident in enumerate(ids):
        if first.setdefault(ident, row) != row:
            raise UserError(
                f"{where}: {kind} id {ident!r} is used twice (rows {first[ident]}, {row})"
            )


def check_task(task: JudgedTask, where: str = "task") -> None:
    """Refuse, in one line, a task whose parts do not fit together or cannot be scored."""
    _check_texts(task.doc_ids, task.doc_texts, "doc", where)
    _check_texts(task.query_ids, task.query_texts, "query", where)
    n_docs, n_queries = len(task.doc_ids), len(task.query_ids)
    queries = _whole(task.qrels_query, "qrels_query", where)
    docs = _whole(task.qrels_doc, "qrels_doc", where)
    grades = _whole(task.qrels_grade, "qrels_grade", where)
    try:
        check_qrels(queries, docs, grades, n_queries, n_docs)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    if grades.max() > MAX_GRADE:
        raise UserError(f"{where}: grade {int(grades.max())} is above {MAX_GRADE}")
    pairs, counts = np.unique(queries * n_docs + docs, return_counts=True)
    if (counts > 1).any():
        query, doc = divmod(int(pairs[counts > 1][0]), n_docs)
        raise UserError(
            f"{where}: query {task.query_ids[query]!r} judges doc {task.doc_ids[doc]!r} "
            f"{int(counts.max())} times; one judgement per (query, doc)"
        )
    relevant = np.zeros(n_queries, dtype=bool)
    relevant[queries[grades >= 1]] = True
    if not relevant.all():
        row = int(np.flatnonzero(~relevant)[0])
        raise UserError(
            f"{where}: {int((~relevant).sum())} queries have no relevant doc (grade >= 1), "
            f"the first {task.query_ids[row]!r}; nDCG needs one per query"
        )
    if task.doc_labels is not None:
        labels = _whole(task.doc_labels, "doc_labels", where)
        bound = len(task.label_names) if task.label_names is not None else np.inf
        if len(labels) != n_docs or labels.min() < 0 or labels.max() >= bound:
            raise UserError(f"{where}: doc_labels must be one label in 0..{bound - 1} per doc")


def write_task(task: JudgedTask, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``task`` atomically to ``path`` and return the path."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path} exists; pass --force to replace it")
    check_task(task, f"task for {path}")
    text = h5py.string_dtype("utf-8")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["annbench_kind"] = KIND
        f.attrs["annbench_format_version"] = FORMAT_VERSION
        f.attrs["annbench_task_hash"] = task_hash(task)
        f.attrs["annbench_source"] = json.dumps(task.source, sort_keys=True)
        f.attrs["grades"] = json.dumps(task.grades, sort_keys=True)
        f.attrs["label_names"] = json.dumps(task.label_names)
        f.create_dataset("docs/text", data=task.doc_texts, dtype=text)
        f.create_dataset("docs/id", data=task.doc_ids, dtype=text)
        f.create_dataset("queries/text", data=task.query_texts, dtype=text)
        f.create_dataset("queries/id", data=task.query_ids, dtype=text)
        if task.doc_labels is not None:
            f.create_dataset("docs/label", data=np.asarray(task.doc_labels, dtype=np.int64))
        f.create_dataset("qrels/query", data=np.asarray(task.qrels_query, dtype=np.int64))
        f.create_dataset("qrels/doc", data=np.asarray(task.qrels_doc, dtype=np.int64))
        f.create_dataset("qrels/grade", data=np.asarray(task.qrels_grade, dtype=np.int8))
    return path


def _attr_text(f, key: str) -> str | None:
    value = f.attrs.get(key)
    return value.decode() if isinstance(value, bytes) else value


def _open_task(path: str | os.PathLike):
    from annbench.datasets.store import open_h5

    f = open_h5(path, "task", "make or import the task first")
    kind = _attr_text(f, "annbench_kind")
    version = f.attrs.get("annbench_format_version")
    if kind != KIND or not isinstance(version, int | np.integer):
        f.close()
        raise UserError(
            f"{path} is not a judged task file (annbench_kind {kind!r}, format version "
            f"{version!r}); make tasks with `annbench tasks make` or `annbench tasks import`"
        )
    if version > FORMAT_VERSION:
        f.close()
        raise NewerFormat(
            f"{path} has task format version {version}, newer than this annbench understands "
            f"({FORMAT_VERSION}); upgrade annbench to read it"
        )
    return f


def load_task(path: str | os.PathLike) -> JudgedTask:
    """The task stored at ``path``, checked, and refused if its content no longer matches its
    stored hash."""
    with _open_task(path) as f:
        try:
            task = JudgedTask(
                doc_ids=f["docs/id"].asstr()[:].tolist(),
                doc_texts=f["docs/text"].asstr()[:].tolist(),
                query_ids=f["queries/id"].asstr()[:].tolist(),
                query_texts=f["queries/text"].asstr()[:].tolist(),
                qrels_query=f["qrels/query"][:],
                qrels_doc=f["qrels/doc"][:],
                qrels_grade=f["qrels/grade"][:],
                doc_labels=f["docs/label"][:] if "docs/label" in f else None,
                label_names=json.loads(_attr_text(f, "label_names") or "null"),
                grades=json.loads(_attr_text(f, "grades") or "{}"),
                source=_source(f),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{path} is a damaged task file ({exc}); remake it") from None
        stored = _attr_text(f, "annbench_task_hash")
    check_task(task, str(path))  # before the casts, which would wrap values out of range
    task.qrels_query = task.qrels_query.astype(np.int64)
    task.qrels_doc = task.qrels_doc.astype(np.int64)
    task.qrels_grade = task.qrels_grade.astype(np.int8)
    if task.doc_labels is not None:
        task.doc_labels = task.doc_labels.astype(np.int64)
    if stored != task_hash(task):
        raise UserError(f"{path} no longer matches its stored task hash; remake or re-import it")
    return task


def is_task_file(path: str | os.PathLike) -> bool:
    try:
        with _open_task(path):
            return True
    except NewerFormat:
        return True
    except UserError:
        return False


def read_task_hash(path: str | os.PathLike) -> str:
    """The hash stored in a task file, without reading its texts."""
    with _open_task(path) as f:
        return str(_attr_text(f, "annbench_task_hash"))


def read_task_source(path: str | os.PathLike) -> dict:
    """The source stored in a task file (generator, slice, parent hash), without its texts."""
    with _open_task(path) as f:
        return _source(f)


def _source(f) -> dict:
    try:
        source = json.loads(_attr_text(f, "annbench_source") or "{}")
    except ValueError:
        source = None
    return source if isinstance(source, dict) else {}


def list_tasks(data_dir: str | os.PathLike) -> list[dict]:
    """One row per readable task file under DATA/tasks (other files there are left out)."""
    rows = []
    for path in sorted((Path(data_dir) / TASKS_FOLDER).glob("*.hdf5"), key=lambda p: p.stem):
        try:
            with _open_task(path) as f:
                source = _source(f)
                rows.append(
                    {
                        "name": path.stem,
                        "path": str(path),
                        "n_docs": int(f["docs/id"].shape[0]),
                        "n_queries": int(f["queries/id"].shape[0]),
                        "n_qrels": int(f["qrels/grade"].shape[0]),
                        "generator": source.get("generator"),
                        "hash": str(_attr_text(f, "annbench_task_hash"))[:12],
                    }
                )
        except (UserError, KeyError, ValueError):
            continue
    return rows


def _size(value: object, name: str, bound: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not 1 <= value <= bound
    ):
        raise UserError(
            f"a slice of {value} {name} does not fit a task of {bound} {name}; ask for 1 to "
            f"{bound} (--{name})"
        )
    return int(value)


def slice_task(task: JudgedTask, n_docs: int, n_queries: int, seed: int) -> JudgedTask:
    """A seeded smaller task: queries drawn in a random order, each kept while the union of the
    kept queries' relevant docs still fits in ``n_docs``; the corpus is filled up with
    distractor docs drawn by the same generator. Docs and queries keep their original order.
    A slice is easier than its task (fewer distractors): compare models within one task."""
    n_docs = _size(n_docs, "docs", len(task.doc_ids))
    n_queries = _size(n_queries, "queries", len(task.query_ids))
    rng = np.random.default_rng(seed)
    queries = np.asarray(task.qrels_query, dtype=np.int64)
    docs = np.asarray(task.qrels_doc, dtype=np.int64)
    grades = np.asarray(task.qrels_grade, dtype=np.int8)
    relevant = grades >= 1
    order = np.argsort(queries[relevant], kind="stable")
    relevant_docs = docs[relevant][order]
    bounds = np.searchsorted(queries[relevant][order], np.arange(len(task.query_ids) + 1))
    chosen: set[int] = set()
    kept: list[int] = []
    skipped = 0
    for query in rng.permutation(len(task.query_ids)).tolist():
        new = set(relevant_docs[bounds[query] : bounds[query + 1]].tolist()) - chosen
        if len(chosen) + len(new) > n_docs:
            skipped += 1
            continue
        chosen |= new
        kept.append(query)
        if len(kept) == n_queries:
            break
    if len(kept) < n_queries:
        raise UserError(
            f"only {len(kept)} queries' relevant docs fit in {n_docs} docs; raise n_docs or "
            "lower n_queries"
        )
    chosen_rows = np.fromiter(chosen, np.int64, len(chosen))
    others = np.setdiff1d(np.arange(len(task.doc_ids)), chosen_rows)
    fill = rng.choice(others, size=n_docs - len(chosen_rows), replace=False)
    doc_rows = np.sort(np.concatenate([chosen_rows, fill]))
    query_rows = np.sort(np.asarray(kept, dtype=np.int64))
    doc_new = np.full(len(task.doc_ids), -1, dtype=np.int64)
    doc_new[doc_rows] = np.arange(n_docs)
    query_new = np.full(len(task.query_ids), -1, dtype=np.int64)
    query_new[query_rows] = np.arange(n_queries)
    keep = (query_new[queries] >= 0) & (doc_new[docs] >= 0)
    spec = {"n_docs": n_docs, "n_queries": n_queries, "seed": seed, "skipped_queries": skipped}
    return JudgedTask(
        doc_ids=[task.doc_ids[i] for i in doc_rows],
        doc_texts=[task.doc_texts[i] for i in doc_rows],
        query_ids=[task.query_ids[i] for i in query_rows],
        query_texts=[task.query_texts[i] for i in query_rows],
        qrels_query=query_new[queries[keep]],
        qrels_doc=doc_new[docs[keep]],
        qrels_grade=grades[keep],
        doc_labels=None if task.doc_labels is None else np.asarray(task.doc_labels)[doc_rows],
        label_names=task.label_names,
        grades=dict(task.grades),
        source={**task.source, "slice": spec, "parent_task_hash": task_hash(task)},
    )
