"""tfidf-svd: a lexical baseline learnt from the task's own documents.

Character 3- and 4-grams within word boundaries (``char_wb``), sublinear TF-IDF, n-grams kept
when they occur in at least two documents, then a seeded truncated SVD to at most 256
dimensions and L2 normalisation. Character n-grams rather than words, so that short queries
(single lemmas) rarely miss the vocabulary entirely.

A text with no n-gram of the vocabulary (or one the SVD components do not capture) would map to
the zero vector, which has no angle; it gets the first basis vector instead, a fixed unit vector,
so angular search stays defined and every index sees the same vector.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np

from annbench.errors import UserError

NAME = "tfidf-svd"
MAX_DIMENSION = 256
SEED = 0
ZERO_NORM = 1e-6  # TF-IDF rows have unit norm; a projection this short has no direction


def version_string() -> str:
    return (
        f"scikit-learn=={importlib.metadata.version('scikit-learn')};dim<={MAX_DIMENSION};"
        f"seed={SEED};char_wb(3,4);min_df=2;sublinear_tf;fallback=e0"
    )


class TfidfSvd:
    """The embedder; ``fit`` the task's documents before ``embed``."""

    name = NAME

    def __init__(self, version: str) -> None:
        self._version = version
        self.dimension = MAX_DIMENSION  # the fitted dimension after ``fit``
        self._vectorizer = None
        self._svd = None

    def version(self) -> str:
        return self._version

    def fit(self, documents: list[str]) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            sublinear_tf=True, analyzer="char_wb", ngram_range=(3, 4), min_df=2, dtype=np.float32
        )
        too_small = UserError(
            f"{NAME} cannot learn from these {len(documents)} documents: it needs at least 3 "
            "that share character 3-4-grams; give more, or choose a neural model"
        )
        if len(documents) < 3:
            raise too_small
        try:
            matrix = vectorizer.fit_transform(documents)
        except ValueError:  # no n-gram occurs in two documents
            raise too_small from None
        components = min(MAX_DIMENSION, matrix.shape[1] - 1, matrix.shape[0] - 1)
        if components < 1:
            raise too_small
        self._svd = TruncatedSVD(n_components=components, random_state=SEED).fit(matrix)
        self._vectorizer = vectorizer
        self.dimension = components

    def embed(self, texts: list[str], role: str, *, progress: bool | None = None) -> np.ndarray:
        if self._svd is None:
            raise RuntimeError(f"{NAME}: call fit(documents) before embed")
        if not texts:
            return np.empty((0, self.dimension), np.float32)
        vectors = self._svd.transform(self._vectorizer.transform(texts)).astype(np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        empty = norms[:, 0] < ZERO_NORM
        vectors = vectors / np.where(empty[:, None], 1.0, norms)
        vectors[empty] = 0.0
        vectors[empty, 0] = 1.0
        return vectors.astype(np.float32)
