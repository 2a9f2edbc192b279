"""Issue 20: `datasets make` / `datasets import` in bounded memory store exactly what the
code stored before the block-wise rewrite (tests/reference_v1.py, run in this process), and
succeed under a memory limit the old code could not meet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from annbench.cli import main
from tests import reference_v1 as v1
from tests.dataset_cases import (
    GOLDEN_CASES,
    IMPORTS,
    K,
    import_inputs,
    live_file,
    reference_file,
    stored,
    summary,
)

ROWS = 500  # base rows per generated, imported or refined block in these tests
GOLDEN = Path(__file__).parent / "data" / "golden-datasets.json"


@pytest.fixture
def small_blocks(monkeypatch):
    """Every block size of the rewrite shrunk to ``ROWS`` rows of dimension ``dim``."""
    from annbench.datasets import file_measures, formats, groundtruth, query_measures, synthetic

    # the covariance of the per-query measures samples 1000 of the base's rows
    monkeypatch.setattr(query_measures, "COVARIANCE_SAMPLE", 1000)

    def shrink(dim: int) -> None:
        monkeypatch.setattr(synthetic, "GENERATE_BYTES", ROWS * 8 * dim)
        monkeypatch.setattr(formats, "IMPORT_BLOCK_BYTES", ROWS * 4 * dim)
        monkeypatch.setattr(groundtruth, "REFINE_BLOCK_BYTES", 137 * 4 * dim)
        monkeypatch.setattr(file_measures.FileRows, "ROWS", 211)

    return shrink


def assert_same_files(live: Path, reference: Path) -> None:
    got, want = stored(live), stored(reference)
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        if isinstance(value, np.ndarray):
            assert got[name].dtype == value.dtype, name
            equal_nan = value.dtype.kind == "f"
            assert np.array_equal(got[name], value, equal_nan=equal_nan), name
        else:
            assert got[name] == value, name


# n % ROWS in {0, 1, ROWS - 1}, each n spanning 5+ blocks
SIZES = (3000, 3001, 2999)
MAKES = [
    ("gauss", {"dim": 16, "n_queries": 30}, "euclidean"),
    ("blobs", {"dim": 12, "n_queries": 40, "n_clusters": 5}, "euclidean"),
    ("blobs", {"dim": 12, "n_queries": 40, "n_clusters": 5}, "angular"),
    ("blobs", {"dim": 12, "n_queries": 40, "n_clusters": 5}, "ip"),
    ("subspace", {"dim": 24, "n_queries": 20, "d_int": 4, "noise": 0.1}, "euclidean"),
    ("manifold", {"dim": 16, "n_queries": 20, "d_int": 3, "noise": 0.05}, "angular"),
    ("manifold", {"dim": 16, "n_queries": 20, "d_int": 3, "noise": 0.05}, "ip"),
]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(("generator", "params", "metric"), MAKES)
def test_made_files_equal_v1(tmp_path, small_blocks, generator, params, metric, n):
    from annbench.datasets.synthetic import generator_params

    small_blocks(params["dim"])
    full = {**generator_params(generator), **params, "n": n}
    reference = v1.save_with_ground_truth(
        v1.make(generator, full, seed=n, metric=metric), tmp_path / "v1.hdf5", k=K
    )
    pairs = [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]
    status = main(
        ["--data-dir", str(tmp_path / "data"), "datasets", "make", "live", "-g", generator]
        + [*pairs, "-p", f"n={n}", "--seed", str(n), "--metric", metric, "--k", str(K)]
    )
    assert status in (0, None)
    assert_same_files(tmp_path / "data" / "live.hdf5", reference)


@pytest.mark.parametrize("case", IMPORTS)
def test_imported_files_equal_v1(tmp_path, small_blocks, case):
    inputs = import_inputs(tmp_path / "inputs")[case]
    small_blocks(np.shape(v1.read_array(inputs["base"]))[1])
    assert_same_files(live_file(case, tmp_path), reference_file(case, tmp_path))


@pytest.mark.parametrize("held_out", [2499, 2500, 2501])
def test_held_out_split_streams_like_v1(tmp_path, small_blocks, held_out):
    """The base that remains after the split spans blocks ending in 0, 1 and ROWS-1 rows."""
    from annbench.datasets.formats import write_vecs

    rng = np.random.default_rng(held_out)
    write_vecs(tmp_path / "b.fvecs", rng.standard_normal((held_out + 30, 7)).astype(np.float32))
    np.save(tmp_path / "labels.npy", rng.integers(0, 9, size=held_out + 30))
    small_blocks(7)
    options = ["--n-queries", "30", "--labels", str(tmp_path / "labels.npy"), "--seed", "3"]
    reference = v1.save_with_ground_truth(
        v1.import_vectors(
            tmp_path / "b.fvecs",
            metric="euclidean",
            n_queries=30,
            seed=3,
            labels_path=tmp_path / "labels.npy",
        ),
        tmp_path / "v1.hdf5",
    )
    data = tmp_path / "data"
    status = main(
        ["--data-dir", str(data), "datasets", "import", "b", str(tmp_path / "b.fvecs"), *options]
    )
    assert status in (0, None)
    assert_same_files(data / "b.hdf5", reference)


def test_catalog_recipe_equals_v1(tmp_path):
    from annbench.datasets.catalog import load_catalog

    entry = load_catalog()["blobs-10k-32"]
    assert entry["kind"] == "synthetic"
    dataset = v1.make(
        entry["generator"],
        {**_defaults(entry["generator"]), **entry.get("params", {})},
        seed=entry.get("seed", 0),
        metric=entry.get("metric", "euclidean"),
    )
    dataset.source["catalog_name"] = "blobs-10k-32"
    reference = v1.save_with_ground_truth(dataset, tmp_path / "v1.hdf5")
    assert main(["--data-dir", str(tmp_path / "data"), "datasets", "make", "blobs-10k-32"]) in (
        0,
        None,
    )
    assert_same_files(tmp_path / "data" / "blobs-10k-32.hdf5", reference)


def _defaults(generator: str) -> dict:
    from annbench.datasets.synthetic import generator_params

    return generator_params(generator)


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_live_files_match_the_golden_record(tmp_path, case):
    """The record made before the rewrite (scripts/golden_datasets.py): RNG output and ids
    exactly, float sums within a tolerance (other CPUs round BLAS and libm differently)."""
    golden = json.loads(GOLDEN.read_text())["cases"][case]
    got = summary(live_file(case, tmp_path))
    assert sorted(got) == sorted(golden)
    for name, value in golden.items():
        if isinstance(value, str) and name != "content_hash":
            assert got[name] == value, name
        elif isinstance(value, float):
            assert got[name] == pytest.approx(value, rel=1e-5, nan_ok=True), name
    assert got["content_hash"] == golden["content_hash"]


def test_block_refine_equals_whole_refine(tmp_path, monkeypatch):
    """Distances re-scored from an HDF5 base in blocks equal the in-memory kernel's bits."""
    import h5py

    from annbench.datasets import groundtruth

    rng = np.random.default_rng(5)
    base = rng.standard_normal((2000, 9)).astype(np.float32)
    queries = rng.standard_normal((31, 9)).astype(np.float32)
    ids = rng.integers(0, 2000, size=(31, 17))
    ids[3, 4] = ids[3, 5]  # repeated ids in a row stay in place
    # ids only in some blocks (the others are not read), and missing ones (-1)
    gappy = np.where(ids < 1000, ids // 3, ids)
    gappy[7, :5] = -1
    monkeypatch.setattr(groundtruth, "REFINE_BLOCK_BYTES", 101 * 4 * 9)
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["train"] = base
    with h5py.File(tmp_path / "b.h5", "r") as f:
        for metric in ("euclidean", "angular", "ip"):
            for chosen in (ids, gappy):
                want = groundtruth.refine(base, queries, chosen, metric)
                got = groundtruth.refine(f["train"], queries, chosen, metric)
                assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert np.isinf(got[1][7, -5:]).all()


@pytest.mark.parametrize("rows", [2, 3, 7])
@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_latent_generators_in_blocks_equal_v1(rows, noise):
    """subspace and manifold made in blocks of ``rows`` (n + n_queries = 1 mod rows: the
    1-row tail joins the block before it) draw v1's arrays bit for bit."""
    from annbench.datasets.synthetic import collect, manifold_parts, subspace_parts

    n, n_queries = 6 * rows * 2 - 5, 6  # n + n_queries = 12 rows + 1
    made = {
        "subspace": collect(
            subspace_parts(np.random.default_rng(rows), n, n_queries, 9, 3, noise, rows=rows)
        ),
        "manifold": collect(
            manifold_parts(
                np.random.default_rng(rows), n, n_queries, 5, 2, noise, 1.5, rows=2 * rows
            )
        ),
    }
    want = {
        "subspace": v1.subspace(np.random.default_rng(rows), n, n_queries, 9, 3, noise),
        "manifold": v1.manifold(np.random.default_rng(rows), n, n_queries, 5, 2, noise, 1.5),
    }
    for name, (base, queries, _) in made.items():
        assert base.dtype == np.float32 and queries.shape == (n_queries, base.shape[1])
        assert np.array_equal(base, want[name][0]), name
        assert np.array_equal(queries, want[name][1]), name


def test_nonfinite_base_is_refused_as_before(tmp_path, small_blocks):
    from annbench.datasets.formats import write_vecs

    base = np.random.default_rng(0).standard_normal((2600, 4)).astype(np.float32)
    base[[1700, 2100], 2] = np.nan
    write_vecs(tmp_path / "b.fvecs", base)
    queries = base[:5].copy()
    write_vecs(tmp_path / "q.fvecs", queries)
    small_blocks(4)
    with pytest.raises(Exception) as old:
        v1.import_vectors(
            tmp_path / "b.fvecs", metric="euclidean", queries_path=tmp_path / "q.fvecs"
        )
    data = tmp_path / "data"
    argv = ["--data-dir", str(data), "datasets", "import", "b", str(tmp_path / "b.fvecs")]
    from annbench.datasets.build import import_dataset_file
    from annbench.datasets.formats import plan_import

    plan = plan_import(tmp_path / "b.fvecs", metric="euclidean", queries_path=tmp_path / "q.fvecs")
    with pytest.raises(Exception) as new:
        import_dataset_file(data / "b.hdf5", plan, metric="euclidean")
    assert str(new.value) == str(old.value)
    assert "vector 1700" in str(new.value) and "(2 such vectors)" in str(new.value)
    assert not (data / "b.hdf5").exists()
    assert main([*argv, "--queries", str(tmp_path / "q.fvecs")]) == 2


def test_blockwise_dataset_hash_of_a_float64_file_equals_the_old_value(tmp_path):
    """An ann-benchmarks file (float64 train/test, no stored hash) hashes block by block to
    the value of hashing the whole loaded arrays, as before."""
    import h5py

    from annbench.datasets.store import content_hash_file, dataset_hash, load_dataset

    made = tmp_path / "foreign.hdf5"
    rng = np.random.default_rng(4)
    with h5py.File(made, "w") as f:
        f.attrs["distance"] = "euclidean"
        f["train"] = rng.standard_normal((1000, 20))
        f["test"] = rng.standard_normal((30, 20))
    real = Path("/work/shared/data/ann-benchmarks/random-xs-20-euclidean.hdf5")
    for path in [made, real] if real.exists() else [made]:
        with h5py.File(path, "r") as f:
            assert f["train"].dtype == np.float64 and "annbench_content_hash" not in f.attrs
        dataset = load_dataset(path)
        old = v1.content_hash(dataset.base, dataset.queries, dataset.metric)
        assert dataset_hash(path) == old
        assert content_hash_file(path, rows=333) == old


# --- a memory limit the old code could not meet -------------------------------------------

CHILD = """
import resource, sys
limit, probe = int(sys.argv[1]), int(sys.argv[2])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import numpy, annbench.cli
if sys.argv[3] == "v1-blobs":  # the code before the rewrite, same dataset
    from tests import reference_v1 as v1
    from annbench.datasets.synthetic import generator_params
    n, dim, path = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    params = {**generator_params("blobs"), "n": n, "dim": dim, "n_queries": 100}
    v1.save_with_ground_truth(v1.make("blobs", params), path, k=10)
    status = 0
else:
    status = annbench.cli.main(sys.argv[3:])
if probe:  # after the same work: can one whole base still be allocated?
    try:
        block = numpy.ones(probe, dtype=numpy.uint8)
        print("PROBE allocated")
    except MemoryError:
        print("PROBE refused")
peak = [line for line in open("/proc/self/status") if line.startswith("VmPeak")][0]
print("VMPEAK", int(peak.split()[1]) * 1024)
sys.exit(status or 0)
"""
CHILD_ENV = {
    "OMP_NUM_THREADS": "2",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "2",
    "MALLOC_ARENA_MAX": "2",
}


def _child(limit: int, probe: int, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **CHILD_ENV}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(limit), str(probe), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[1],
        timeout=600,
    )


def _vmpeak(run: subprocess.CompletedProcess) -> int:
    assert run.returncode == 0, run.stderr[-2000:]
    return int(run.stdout.split("VMPEAK")[-1].split()[0])


@pytest.mark.slow
def test_make_and_import_under_rlimit_as(tmp_path):
    """1M x 128 (a 512 MB base) made and imported under an address-space limit that a make of
    200k vectors reaches plus 1/8 of the base: no room for one more whole base (the probe), so
    no room for the code before the rewrite (which held the base and a float64 copy)."""
    from annbench.datasets.formats import write_vecs

    n, dim = 1_000_000, 128
    size = n * dim * 4
    # an absent results folder: no note about stale results (which loads pandas) afterwards
    data = ["--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "none")]
    make = [*data, "datasets", "make"]
    blobs = ["-g", "blobs", "-p", f"dim={dim}", "-p", "n_queries=100", "--k", "10"]
    small = [*make, "small", *blobs, "-p", "n=200000"]
    # the address space of the same work at 200k vectors (libraries, thread stacks and
    # arenas, blocks, the 100k-row covariance sample), plus an eighth of the base
    limit = _vmpeak(_child(0, 0, *small)) + size // 8
    probe = _child(limit, size, *small, "--force")
    assert "PROBE refused" in probe.stdout, "the limit must not hold one more whole base"
    made = _child(limit, 0, *make, "big", *blobs, "-p", f"n={n}")
    _vmpeak(made)
    old = _child(limit, 0, "v1-blobs", str(n), str(dim), str(tmp_path / "v1.hdf5"))
    assert old.returncode != 0 and "MemoryError" in old.stderr, old.stderr[-2000:]
    rng = np.random.default_rng(0)
    with open(tmp_path / "big.fvecs", "ab") as out:
        for _ in range(10):
            write_vecs(tmp_path / "part.fvecs", rng.standard_normal((n // 10, dim), np.float32))
            out.write((tmp_path / "part.fvecs").read_bytes())
    (tmp_path / "part.fvecs").unlink()
    imported = _child(
        limit,
        0,
        *data,
        "datasets",
        "import",
        "imp",
        str(tmp_path / "big.fvecs"),
        "--n-queries",
        "100",
    )
    _vmpeak(imported)
    from annbench.datasets.store import dataset_info

    for name, rows in (("big", n), ("imp", n - 100)):
        info = dataset_info(tmp_path / "data" / f"{name}.hdf5")
        assert (info["n_base"], info["n_queries"], info["dimension"]) == (rows, 100, dim)
        assert info["ground_truth_k"] == (10 if name == "big" else 100)


def test_write_dataset_with_every_field_equals_v1(tmp_path):
    """write_dataset (now through the incremental writer) stores what it stored before,
    filter attributes and workloads, lid, query labels and parents included."""
    from annbench.datasets.attributes import add_filter_workloads
    from annbench.datasets.store import write_dataset

    dataset = v1.make("blobs", {**_defaults("blobs"), "n": 1500, "n_queries": 12, "dim": 6})
    v1.with_ground_truth(dataset, K, progress=False)
    rng = np.random.default_rng(2)
    dataset.lid = rng.random(1500)
    dataset.query_labels = rng.integers(0, 3, size=12)
    dataset.query_parents = rng.integers(0, 99, size=12)
    add_filter_workloads(dataset, ["range"], [0.2], ["none"], seed=1)
    want = v1.write_dataset(tmp_path / "v1.hdf5", dataset)
    assert write_dataset(tmp_path / "new.hdf5", dataset) == want
    assert_same_files(tmp_path / "new.hdf5", tmp_path / "v1.hdf5")
    assert "workloads/range-s0.2-none/neighbors" in stored(tmp_path / "new.hdf5")


def test_train_and_test_are_contiguous_float32(tmp_path):
    """Stored as readers memory-map them: contiguous, unfiltered, little-endian float32."""
    import h5py

    status = main(
        ["--data-dir", str(tmp_path), "datasets", "make", "g", "-g", "gauss", "-p", "n=3000"]
    )
    assert status in (0, None)
    with h5py.File(tmp_path / "g.hdf5", "r") as f:
        for name in ("train", "test"):
            item = f[name]
            assert item.chunks is None and item.compression is None, name
            assert item.dtype == np.dtype("<f4") and item.id.get_offset() is not None, name


def test_rows_gathered_from_a_file_block_by_block(tmp_path):
    import h5py

    from annbench.datasets.file_measures import FileRows

    base = np.random.default_rng(1).standard_normal((1000, 3)).astype(np.float32)
    rows = np.array([0, 5, 63, 64, 65, 500, 999])
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["train"] = base
        reader = FileRows(f["train"])
        reader.ROWS = 64
        assert np.array_equal(reader[rows], base[rows])
        assert np.array_equal(np.asarray(reader), base) and len(reader) == 1000


def test_a_negative_spread_is_refused_before_any_block_is_drawn(tmp_path, monkeypatch):
    """The producer thread refuses blobs' parameters before the first block: nothing is
    drawn (the RNG is never asked for the noise) and no file appears."""
    from annbench.datasets import synthetic

    drawn = []
    monkeypatch.setattr(synthetic, "blobs_noise", lambda *a: drawn.append(a) or iter(()))
    argv = ["datasets", "make", "neg", "-g", "blobs", "-p", "n=5000", "-p", "cluster_std=-1"]
    status = main(["--data-dir", str(tmp_path), *argv])
    assert status == 2 and not drawn and not list(tmp_path.glob("*.hdf5"))


def test_a_write_that_fails_midway_is_one_line_and_leaves_nothing(tmp_path):
    """A file-size limit (as a full disk would) stops the writer mid-base: one line naming
    the system's reason, exit 2, and no temporary file left behind."""
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))\n"
        "from annbench.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["--data-dir", str(tmp_path), "datasets", "make", "big", "-g", "gauss"]
    argv += ["-p", "n=200000", "-p", "dim=16"]
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "File too large" in lines[0] and "ulimit -f" in lines[0]
    assert not list(tmp_path.rglob("*.hdf5")) and not list(tmp_path.rglob("*.tmp"))
