"""Importing a judged task from text files: documents and queries as TSV ("id<TAB>text" per
line) and relevance judgements in TREC's qrels format ("query_id 0 doc_id grade" per line).
Every problem is one line naming the file and the line."""

from __future__ import annotations

import os

import numpy as np

from annbench.datasets.judged import MAX_GRADE, JudgedTask, check_task
from annbench.errors import UserError
from annbench.errors.files import read_text


def _lines(path: str | os.PathLike, what: str):
    """(line number, line) of the non-blank lines of a UTF-8 text file."""
    for number, line in enumerate(read_text(path, what).split("\n"), 1):
        if line.strip():
            yield number, line.rstrip("\r")


def _read_tsv(path: str | os.PathLike, what: str) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    texts: list[str] = []
    line_of: dict[str, int] = {}
    for number, line in _lines(path, f"{what} file"):
        ident, tab, text = line.partition("\t")
        ident, text = ident.strip(), text.strip()
        if not tab or not ident or not text:
            raise UserError(f"{path}:{number}: expected 'id<TAB>text', got {line[:60]!r}")
        if ident in line_of:
            raise UserError(f"{path}:{number}: {what} id {ident!r} repeats line {line_of[ident]}")
        line_of[ident] = number
        ids.append(ident)
        texts.append(text)
    if not ids:
        raise UserError(f"{what} file {path} holds no lines of 'id<TAB>text'")
    return ids, texts


def import_trec(
    docs: str | os.PathLike, queries: str | os.PathLike, qrels: str | os.PathLike
) -> JudgedTask:
    """A task from TSV docs and queries ("id<TAB>text" per line) and TREC qrels ("query_id 0
    doc_id grade" per line). Queries without any judgement are dropped, and counted."""
    doc_ids, doc_texts = _read_tsv(docs, "doc")
    query_ids, query_texts = _read_tsv(queries, "query")
    doc_row = {ident: row for row, ident in enumerate(doc_ids)}
    query_row = {ident: row for row, ident in enumerate(query_ids)}
    judged: dict[tuple[int, int], int] = {}
    line_of: dict[tuple[int, int], int] = {}
    for number, line in _lines(qrels, "qrels file"):
        where = f"{qrels}:{number}"
        fields = line.split()
        if len(fields) != 4:
            raise UserError(f"{where}: expected 'query_id 0 doc_id grade', got {line[:60]!r}")
        query, _, doc, grade_text = fields
        if query not in query_row:
            raise UserError(f"{where}: query id {query!r} is not in {queries}")
        if doc not in doc_row:
            raise UserError(f"{where}: doc id {doc!r} is not in {docs}")
        if not grade_text.lstrip("-").isdigit():
            raise UserError(f"{where}: grade {grade_text!r} is not a whole number")
        grade = int(grade_text)
        if not 0 <= grade <= MAX_GRADE:
            raise UserError(f"{where}: grade {grade} is outside 0..{MAX_GRADE} (0: not relevant)")
        pair = (query_row[query], doc_row[doc])
        if pair in judged:
            raise UserError(
                f"{where}: query {query!r} judges doc {doc!r} again (line {line_of[pair]})"
            )
        judged[pair] = grade
        line_of[pair] = number
    if not judged:
        raise UserError(f"qrels file {qrels} holds no judgements")
    kept = sorted({query for query, _ in judged})
    relevant = {query for (query, _), grade in judged.items() if grade >= 1}
    unjudged = [(line_of[pair], pair[0]) for pair in judged if pair[0] not in relevant]
    if unjudged:
        number, query = min(unjudged)
        raise UserError(
            f"{qrels}:{number}: query {query_ids[query]!r} has no relevant doc (grade >= 1); "
            "judge one relevant or leave the query out"
        )
    new_row = {query: row for row, query in enumerate(kept)}
    pairs = sorted(judged)
    task = JudgedTask(
        doc_ids=doc_ids,
        doc_texts=doc_texts,
        query_ids=[query_ids[q] for q in kept],
        query_texts=[query_texts[q] for q in kept],
        qrels_query=np.array([new_row[q] for q, _ in pairs], dtype=np.int64),
        qrels_doc=np.array([d for _, d in pairs], dtype=np.int64),
        qrels_grade=np.array([judged[p] for p in pairs], dtype=np.int8),
        source={
            "generator": "trec-import",
            "files": {"docs": str(docs), "queries": str(queries), "qrels": str(qrels)},
            "dropped_queries": len(query_ids) - len(kept),
            "slice": None,
            "parent_task_hash": None,
        },
    )
    check_task(task, str(qrels))
    return task
