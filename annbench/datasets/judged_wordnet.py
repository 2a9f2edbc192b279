"""Judged retrieval tasks made from WordNet 3.0 (Debian package ``wordnet-base``).

The corpus of both tasks is every synset's definition without its quoted examples (with them,
an example query would sit verbatim inside its own relevant doc). Definitions shared by
several synsets ("a variety of aster", 23 times) are one doc, named after the first synset
that holds it: identical texts would give identical vectors, whose tie order would decide the
scores. Each doc is labelled with its (first) synset's lexicographer file.

- ``wordnet-examples``: every distinct example sentence is a query; relevant are the
  definition of its own synset (grade 2) and those of its synset's direct hypernyms and
  hyponyms, instances included (grade 1). A sentence found in several synsets is one query
  judged by all of them, with the highest grade where two meet on one doc.
- ``wordnet-lemmas``: every distinct lemma (lower-cased, '_' as a space) is a query; relevant
  are the definitions of all its synsets (grade 1).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annbench.datasets.judged import (
    JudgedTask,
    is_task_file,
    load_task,
    read_task_hash,
    read_task_source,
    slice_task,
    task_path,
    write_task,
)
from annbench.datasets.wordnet import WORDNET_DIR, lexnames
from annbench.datasets.wordnet_graph import (
    Synset,
    SynsetKey,
    data_hash,
    key_id,
    read_synsets,
    wordnet_version,
)
from annbench.errors import UserError

RECIPE = 1  # raised whenever a maker's rules change, so tasks made by older rules are remade
EXAMPLE_GRADES = {"2": "the example's own synset", "1": "a direct hypernym or hyponym"}
LEMMA_GRADES = {"1": "a synset of the lemma"}


@dataclass
class _Corpus:
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    row_of: dict[SynsetKey, int] = field(default_factory=dict)  # synset -> doc row


def _corpus(synsets: list[Synset], label_names: list[str]) -> _Corpus:
    corpus = _Corpus()
    row_of_text: dict[str, int] = {}
    for synset in synsets:
        if synset.lexname >= len(label_names):
            raise UserError(
                f"WordNet synset {synset.id} names lexicographer file {synset.lexname}, but "
                f"only {len(label_names)} are known"
            )
        if not synset.definition:
            continue  # a gloss of examples alone gives no doc
        row = row_of_text.setdefault(synset.definition, len(corpus.ids))
        if row == len(corpus.ids):
            corpus.ids.append(synset.id)
            corpus.texts.append(synset.definition)
            corpus.labels.append(synset.lexname)
        corpus.row_of[synset.key] = row
    return corpus


def _task(
    judged: dict[str, dict[int, int]],
    query_ids: dict[str, str],
    corpus: _Corpus,
    label_names: list[str],
    source: dict,
    grades: dict[str, str],
) -> JudgedTask:
    """A task from {query text: {doc row: grade}}; queries left without a relevant doc (their
    synsets' definitions all empty) are dropped and counted."""
    texts = [text for text, docs in judged.items() if docs and max(docs.values()) >= 1]
    queries, docs, levels = [], [], []
    for row, text in enumerate(texts):
        for doc, grade in sorted(judged[text].items()):
            queries.append(row)
            docs.append(doc)
            levels.append(grade)
    return JudgedTask(
        doc_ids=corpus.ids,
        doc_texts=corpus.texts,
        query_ids=[query_ids[text] for text in texts],
        query_texts=texts,
        qrels_query=np.asarray(queries, dtype=np.int64),
        qrels_doc=np.asarray(docs, dtype=np.int64),
        qrels_grade=np.asarray(levels, dtype=np.int8),
        doc_labels=np.asarray(corpus.labels, dtype=np.int64),
        label_names=label_names,
        grades=grades,
        source={**source, "dropped_queries": len(judged) - len(texts)},
    )


def _source(generator: str, wordnet_dir: str | os.PathLike) -> dict:
    return {
        "generator": generator,
        "recipe": RECIPE,
        "wordnet": wordnet_version(wordnet_dir),
        "wordnet_sha256": data_hash(wordnet_dir),
        "slice": None,
        "parent_task_hash": None,
    }


def _read(wordnet_dir) -> tuple[list[Synset], _Corpus, list[str]]:
    synsets = read_synsets(wordnet_dir)
    label_names = lexnames(wordnet_dir)
    return synsets, _corpus(synsets, label_names), label_names


def make_wordnet_examples(wordnet_dir: str | os.PathLike = WORDNET_DIR) -> JudgedTask:
    synsets, corpus, label_names = _read(wordnet_dir)
    known = {synset.key for synset in synsets}
    judged: dict[str, dict[int, int]] = {}
    query_ids: dict[str, str] = {}
    for synset in synsets:
        related = []
        for key in synset.hypernyms + synset.hyponyms:
            if key not in known:
                raise UserError(
                    f"WordNet synset {synset.id} points to {key_id(key)}, which no data file "
                    "holds; reinstall wordnet-base"
                )
            if key in corpus.row_of:
                related.append(corpus.row_of[key])
        own = corpus.row_of.get(synset.key)
        for number, example in enumerate(synset.examples):
            query_ids.setdefault(example, f"{synset.id}#{number}")
            docs = judged.setdefault(example, {})
            for row in related:
                docs[row] = max(docs.get(row, 0), 1)
            if own is not None:
                docs[own] = 2
    source = _source("wordnet-examples", wordnet_dir)
    return _task(judged, query_ids, corpus, label_names, source, EXAMPLE_GRADES)


def lemma_of(word: str) -> str:
    """A synset word as a lemma query: lower-cased, underscores as spaces."""
    return word.replace("_", " ").lower()


def make_wordnet_lemmas(wordnet_dir: str | os.PathLike = WORDNET_DIR) -> JudgedTask:
    synsets, corpus, label_names = _read(wordnet_dir)
    judged: dict[str, dict[int, int]] = {}
    for synset in synsets:
        own = corpus.row_of.get(synset.key)
        for word in synset.words:
            docs = judged.setdefault(lemma_of(word), {})
            if own is not None:
                docs[own] = 1
    query_ids = {lemma: lemma.replace(" ", "_") for lemma in judged}  # ids without spaces
    source = _source("wordnet-lemmas", wordnet_dir)
    return _task(judged, query_ids, corpus, label_names, source, LEMMA_GRADES)


TASK_MAKERS: dict[str, Callable[..., JudgedTask]] = {
    "wordnet-examples": make_wordnet_examples,
    "wordnet-lemmas": make_wordnet_lemmas,
}


def _matches(stored: dict, expected: dict) -> bool:
    """Whether every expected entry is stored (a dict entry: each of its keys)."""
    for key, value in expected.items():
        have = stored.get(key)
        if isinstance(value, dict):
            if not isinstance(have, dict) or any(have.get(k) != v for k, v in value.items()):
                return False
        elif have != value:
            return False
    return True


def _reusable(path: Path, expected: dict) -> bool:
    """True: ``path`` holds the task ``expected`` describes; False: it is absent or an older
    make of the same generator (to be remade). Anything else there is refused, not replaced."""
    if not path.exists():
        return False
    source = read_task_source(path) if is_task_file(path) else {}
    if source.get("generator") != expected["generator"]:
        raise UserError(
            f"{path} exists and is not a {expected['generator']} task; pass --force to replace it"
        )
    return _matches(source, expected)


def make_task(
    name: str,
    data_dir: str | os.PathLike,
    *,
    n_docs: int | None = None,
    n_queries: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    wordnet_dir: str | os.PathLike = WORDNET_DIR,
) -> Path:
    """Make (or reuse) DATA/tasks/<name>.hdf5; with ``n_docs`` and ``n_queries``, also its
    seeded slice DATA/tasks/<name>-<n_docs>d-<n_queries>q-s<seed>.hdf5. Returns the path of
    the task asked for. ``overwrite`` remakes whatever is there."""
    if name not in TASK_MAKERS:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(TASK_MAKERS)}")
    if (n_docs is None) != (n_queries is None):
        raise UserError(
            "a slice needs both a number of documents and of queries (--docs and --queries), "
            "or neither for the whole task"
        )
    path = task_path(name, data_dir)
    expected = _source(name, wordnet_dir)
    full = None
    if overwrite or not _reusable(path, expected):
        full = TASK_MAKERS[name](wordnet_dir)
        write_task(full, path, overwrite=True)
    if n_docs is None:
        return path
    slice_path = task_path(f"{name}-{n_docs}d-{n_queries}q-s{seed}", data_dir)
    spec = {"n_docs": n_docs, "n_queries": n_queries, "seed": seed}
    expected = {**expected, "slice": spec, "parent_task_hash": read_task_hash(path)}
    if overwrite or not _reusable(slice_path, expected):
        task = slice_task(full or load_task(path), n_docs, n_queries, seed)
        write_task(task, slice_path, overwrite=True)
    return slice_path
