"""Property: whatever experiment spec and dataset file it is given, the real command line
answers with exit status 0, 1 or 2 and never a traceback, and when it refuses (2) every file
already in the data and results folders is exactly as it was.

Specs and dataset files are drawn by hypothesis from valid and broken pieces: wrong types,
out-of-range values, empty and duplicated lists, unknown keys, names that escape or collide,
bytes that are not UTF-8 or not YAML; HDF5 files with text or empty arrays, mismatched shapes,
ground truth naming vectors that do not exist, unknown metrics, or no HDF5 at all. Jobs run
inline (the property is about the input layer; executors are tested on their own).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from annbench.cli import main

EXAMPLES = 100
SEEN: set[int] = set()  # exit statuses the property test met

# --- spec pieces -----------------------------------------------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
# a runnable spec, value by value; then up to two values are broken
valid = {
    "datasets": st.sampled_from([["tiny"], ["gen"], ["tiny", "gen"]]),
    "adapters": st.sampled_from(
        [
            ["faiss-flat"],
            [{"name": "hnswlib", "build": {"M": [8, 16]}, "query": {"ef": [10, 20]}}],
            ["faiss-flat", {"name": "hnswlib", "seeds": [0, 1]}],
        ]
    ),
    "k": st.integers(1, 20),
    "repeats": st.integers(1, 2),
    "warmup": st.integers(0, 1),
    "timeout": st.floats(5, 100),
    "seeds": st.sampled_from([[0], [0, 1]]),
    "orders": st.sampled_from([["original"], ["random"], ["original", "reverse"]]),
    "modes": st.sampled_from([["batch"], ["single"]]),
    "build_threads": st.sampled_from([[None], [1]]),
    "search_threads": st.sampled_from([[None], [1], [None, 1]]),
}
grid = st.one_of(
    st.lists(st.one_of(st.integers(-2, 40), st.sampled_from([8, 16, 16])), max_size=3),
    st.lists(junk, max_size=2),
    junk,
)
broken = {
    **{key: junk for key in valid},
    "datasets": st.one_of(
        st.lists(st.sampled_from(["absent", "../tiny", "", "a b", "x.hdf5", "a/b"]), max_size=2),
        junk,
    ),
    "adapters": st.one_of(
        st.lists(
            st.one_of(
                st.sampled_from(["nope", ""]),
                st.fixed_dictionaries(
                    {"name": st.just("hnswlib")},
                    optional={
                        "build": st.one_of(
                            st.fixed_dictionaries({}, optional={"M": grid, "colour": grid}), junk
                        ),
                        "query": st.one_of(st.fixed_dictionaries({}, optional={"ef": grid}), junk),
                        "seeds": st.one_of(st.lists(st.integers(-1, 2), max_size=2), junk),
                    },
                ),
                st.dictionaries(st.sampled_from(["name", "nome"]), junk, max_size=2),
            ),
            max_size=2,
        ),
        junk,
    ),
    "k": st.one_of(st.integers(-1, 0), st.integers(101, 200), junk),
    "orders": st.lists(st.sampled_from(["lid-asc", "label-grouped", "zigzag"]), max_size=2),
    "surprise": junk,
}


@st.composite
def specs(draw):
    """A runnable spec with up to two values broken (a wrong type, a range, an unknown key,
    a required key dropped), so that every layer of the checks gets its turn."""
    spec = {key: draw(strategy) for key, strategy in valid.items() if draw(st.booleans())}
    spec.setdefault("datasets", ["tiny"])
    spec.setdefault("adapters", ["faiss-flat"])
    for key in draw(st.lists(st.sampled_from(sorted(broken)), max_size=2, unique=True)):
        if draw(st.integers(0, 9)) == 0:
            spec.pop(key, None)
        else:
            spec[key] = draw(broken[key])
    return spec


encodings = st.sampled_from(["yaml"] * 7 + ["latin-1 bytes", "truncated", "folder"])

# --- dataset-file pieces ---------------------------------------------------------------------


GOOD_FILE = {
    "n": 30,
    "nq": 3,
    "dim": 4,
    "query_dim": 4,
    "kind": "float32",
    "gt": "good",
    "metric": "euclidean",
    "not_hdf5": False,
    "name": "gen",
}


@st.composite
def dataset_files(draw):
    """Arguments for ``_write_dataset``: shapes, kinds and flaws of one HDF5 file."""
    return {
        "n": draw(st.sampled_from([0, 1] + [30] * 6)),
        "nq": draw(st.sampled_from([0] + [3] * 6)),
        "dim": draw(st.sampled_from([0] + [4] * 6)),
        "query_dim": draw(st.sampled_from([3] + [4] * 6)),
        "kind": draw(st.sampled_from(["float32"] * 4 + ["int8", "text"])),
        "gt": draw(st.sampled_from(["good"] * 5 + ["none", "out of range", "float", "short"])),
        "metric": draw(
            st.sampled_from(["euclidean"] * 3 + ["angular", "ip", "cosine", "hamming", None])
        ),
        "not_hdf5": draw(st.integers(0, 9)) == 0,
        "name": draw(st.sampled_from(["gen"] * 6 + ["a b", "..."])),
    }


def _write_dataset(folder: Path, spec: dict) -> None:
    path = folder / f"{spec['name']}.hdf5"
    if spec["not_hdf5"]:
        path.write_bytes(b"\x89HDF but not really" * 3)
        return
    rng = np.random.default_rng(0)
    n, nq, dim = spec["n"], spec["nq"], spec["dim"]
    base = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((nq, spec["query_dim"] if dim else 0)).astype(np.float32)
    if spec["kind"] == "int8":
        base, queries = (base * 10).astype(np.int8), (queries * 10).astype(np.int8)
    elif spec["kind"] == "text":
        base = base.astype("S4")
    k = min(10, max(n, 1))
    neighbors = np.tile(np.arange(k), (nq, 1))
    distances = np.sort(rng.random((nq, k)), axis=1)
    if spec["gt"] == "out of range":
        neighbors = neighbors + n
    elif spec["gt"] == "float":
        neighbors = neighbors + 0.25
    elif spec["gt"] == "short":
        neighbors = neighbors[:-1] if nq else neighbors
    with h5py.File(path, "w") as f:
        if spec["metric"] is not None:
            f.attrs["distance"] = spec["metric"]
        f.create_dataset("train", data=base)
        f.create_dataset("test", data=queries)
        if spec["gt"] != "none":
            f.create_dataset("neighbors", data=neighbors)
            f.create_dataset("distances", data=distances)


# --- the property ----------------------------------------------------------------------------


def _digest(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            digest.update(str(path.relative_to(folder.parent)).encode())
            if path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A data folder holding dataset 'tiny' and a results folder holding one good result."""
    root = tmp_path_factory.mktemp("prepared")
    data, results = root / "data", root / "results"
    status = main(
        ["--data-dir", str(data), "datasets", "make", "tiny", "-g", "blobs"]
        + ["-p", "n=200", "-p", "n_queries=10", "-p", "dim=4"]
    )
    assert status == 0
    spec = root / "spec.yml"
    spec.write_text(yaml.safe_dump({"datasets": ["tiny"], "adapters": ["faiss-flat"]}))
    status = main(
        ["--data-dir", str(data), "--results-dir", str(results), "run", str(spec)]
        + ["--executor", "inline"]
    )
    assert status == 0
    return root


def _write_spec(path: Path, spec: dict, encoding: str) -> None:
    text = yaml.safe_dump(spec, allow_unicode=True)
    if encoding == "latin-1 bytes":
        path.write_bytes(b"\xe9\xff" + text.encode())
    elif encoding == "truncated":
        path.write_text(text[: max(1, len(text) // 2)] + "\n  - [unclosed")
    elif encoding == "folder":
        path.mkdir()
    else:
        path.write_text(text)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=specs(), encoding=encodings, dataset=dataset_files())
@example(  # found by this test: LID was stored in 'tiny' before 'gen' was refused
    spec={"datasets": ["tiny", "gen"], "adapters": ["faiss-flat"], "orders": ["lid-asc"]},
    encoding="yaml",
    dataset={**GOOD_FILE, "not_hdf5": True},
)
@example(  # found by this test: a base of dimension 0 crashed the content hash
    spec={"datasets": ["gen"], "adapters": ["faiss-flat"]},
    encoding="yaml",
    dataset={**GOOD_FILE, "dim": 0},
)
def test_any_spec_and_dataset_file_gives_0_1_or_2_and_a_refusal_changes_nothing(
    prepared, capsys, spec, encoding, dataset
):
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        data, results = root / "data", root / "results"
        shutil.copytree(prepared / "data", data)
        shutil.copytree(prepared / "results", results)
        _write_dataset(data, dataset)
        spec_path = root / "spec.yml"
        _write_spec(spec_path, spec, encoding)
        before = _digest(data, results)
        capsys.readouterr()
        status = main(
            ["--data-dir", str(data), "--results-dir", str(results), "run", str(spec_path)]
            + ["--executor", "inline", "--yes"]
        )
        out, err = capsys.readouterr()
        SEEN.add(status)
        assert status in (0, 1, 2), (status, out, err)
        assert "Traceback" not in err and "Traceback" not in out, err
        if status == 2:
            errors = [line for line in err.splitlines() if line.startswith("annbench: error:")]
            assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
            assert _digest(data, results) == before, err


def test_the_examples_reached_both_acceptance_and_refusal():
    """The property above is only as good as its examples: among them there must have been
    specs that ran and specs that were refused (it ran first, in this module)."""
    if not SEEN:
        pytest.skip("the property test did not run in this session")
    assert {0, 2} <= SEEN, SEEN
