"""Vector file formats (.fvecs/.bvecs/.ivecs/.npy) and importing them as datasets."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from annbench.cli import main
from annbench.datasets.formats import import_vectors, read_array, read_vecs, write_vecs
from annbench.datasets.store import load_dataset
from annbench.errors import UserError

STRUCT_CODES = {".fvecs": "f", ".bvecs": "B", ".ivecs": "i"}


def sample(suffix: str, n: int = 7, d: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if suffix == ".fvecs":
        return rng.standard_normal((n, d)).astype(np.float32)
    if suffix == ".bvecs":
        return rng.integers(0, 256, size=(n, d), dtype=np.uint8)
    return rng.integers(-(2**31), 2**31 - 1, size=(n, d), dtype=np.int32)


def hand_made(array: np.ndarray, suffix: str) -> bytes:
    """The texmex layout built with struct: per record, int32 d then d components."""
    code = STRUCT_CODES[suffix]
    d = array.shape[1]
    return b"".join(
        struct.pack("<i", d) + struct.pack(f"<{d}{code}", *row.tolist()) for row in array
    )


def brute_force(base, queries, metric: str):
    """All distances (float64) between queries and base in the dataset-file convention."""
    q = np.asarray(queries, dtype=np.float64)
    x = np.asarray(base, dtype=np.float64)
    if metric == "euclidean":
        return np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    dots = q @ x.T
    if metric == "ip":
        return -dots
    return 1.0 - dots / np.outer(np.linalg.norm(q, axis=1), np.linalg.norm(x, axis=1))


def top_k(all_dists: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.argsort(all_dists, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(all_dists, ids, axis=1)


def row_ids(rows: np.ndarray) -> list[int]:
    """Rows made by ``indexed_rows`` carry their original index in column 0."""
    return [int(v) for v in rows[:, 0]]


def indexed_rows(n: int, d: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    array = rng.standard_normal((n, d)).astype(np.float32)
    array[:, 0] = np.arange(n)
    return array


# -- read_vecs / write_vecs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "dtype"),
    [(".fvecs", np.float32), (".bvecs", np.uint8), (".ivecs", np.int32)],
)
def test_vecs_round_trip(tmp_path: Path, suffix: str, dtype) -> None:
    array = sample(suffix, n=9, d=6, seed=1)
    path = tmp_path / f"x{suffix}"

    write_vecs(path, array)
    back = read_vecs(path)

    assert back.dtype == np.dtype(dtype)
    assert back.shape == (9, 6)
    np.testing.assert_array_equal(back, array)
    assert path.stat().st_size == 9 * (4 + 6 * np.dtype(dtype).itemsize)


@pytest.mark.parametrize("suffix", [".fvecs", ".bvecs", ".ivecs"])
def test_vecs_byte_layout_matches_hand_made_file(tmp_path: Path, suffix: str) -> None:
    array = sample(suffix, n=4, d=3, seed=2)
    written = tmp_path / f"written{suffix}"
    made = tmp_path / f"made{suffix}"
    made.write_bytes(hand_made(array, suffix))

    write_vecs(written, array)

    assert written.read_bytes() == made.read_bytes()
    np.testing.assert_array_equal(read_vecs(made), array)


def test_fvecs_layout_explicit_bytes(tmp_path: Path) -> None:
    path = tmp_path / "two.fvecs"
    write_vecs(path, np.array([[1.0, -2.5], [0.0, 3.25]]))

    raw = path.read_bytes()

    assert raw[:4] == (2).to_bytes(4, "little")
    assert struct.unpack("<i2f", raw[:12]) == (2, 1.0, -2.5)
    assert struct.unpack("<i2f", raw[12:]) == (2, 0.0, 3.25)
    assert len(raw) == 24


def test_write_vecs_converts_input_dtype(tmp_path: Path) -> None:
    path = tmp_path / "x.fvecs"
    write_vecs(path, np.arange(6, dtype=np.float64).reshape(2, 3))
    back = read_vecs(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, [[0, 1, 2], [3, 4, 5]])


def test_read_vecs_non_contiguous_input(tmp_path: Path) -> None:
    array = sample(".fvecs", n=6, d=8, seed=3)[:, ::2]
    path = tmp_path / "x.fvecs"
    write_vecs(path, array)
    np.testing.assert_array_equal(read_vecs(path), array)


def _truncated(raw: bytes) -> bytes:
    return raw[:-3]


def _second_record_dim(raw: bytes) -> bytes:
    record = len(raw) // 7
    return raw[:record] + struct.pack("<i", 4) + raw[record + 4 :]


def _zero_dim(raw: bytes) -> bytes:
    return struct.pack("<i", 0) + raw[4:]


def _negative_dim(raw: bytes) -> bytes:
    return struct.pack("<i", -5) + raw[4:]


def _huge_dim(raw: bytes) -> bytes:
    return struct.pack("<i", 2**31 - 1) + raw[4:]


def _empty(raw: bytes) -> bytes:
    return b""


def _three_bytes(raw: bytes) -> bytes:
    return raw[:3]


@pytest.mark.parametrize(
    "corrupt",
    [_truncated, _second_record_dim, _zero_dim, _negative_dim, _huge_dim, _empty, _three_bytes],
)
@pytest.mark.parametrize("suffix", [".fvecs", ".bvecs", ".ivecs"])
def test_corrupt_vecs_raise_user_error(tmp_path: Path, suffix: str, corrupt) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(corrupt(hand_made(sample(suffix, n=7, d=5), suffix)))

    with pytest.raises(UserError) as info:
        read_vecs(path)

    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_read_vecs_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "x.dat"
    path.write_bytes(b"\x01\x00\x00\x00\x00\x00\x80?")
    with pytest.raises(UserError, match="unknown vector format"):
        read_vecs(path)


# -- read_array / .npy ---------------------------------------------------------------------------


def test_read_array_npy(tmp_path: Path) -> None:
    array = np.random.default_rng(4).standard_normal((10, 3))
    np.save(tmp_path / "x.npy", array)
    back = read_array(tmp_path / "x.npy")
    assert back.shape == (10, 3)
    np.testing.assert_array_equal(back, array)


def test_read_array_vecs(tmp_path: Path) -> None:
    array = sample(".bvecs", n=5, d=4)
    write_vecs(tmp_path / "x.bvecs", array)
    np.testing.assert_array_equal(read_array(tmp_path / "x.bvecs"), array)


@pytest.mark.parametrize("shape", [(12,), (2, 3, 2)])
def test_read_array_npy_wrong_rank(tmp_path: Path, shape) -> None:
    np.save(tmp_path / "x.npy", np.zeros(shape, dtype=np.float32))
    with pytest.raises(UserError, match="expected"):
        read_array(tmp_path / "x.npy")


def _npy_truncated(raw: bytes) -> bytes:
    return raw[:-5]


def _npy_garbage(raw: bytes) -> bytes:
    return b"this is not numpy at all" * 4


def _npy_magic_only(raw: bytes) -> bytes:
    return raw[:6]


def _npy_empty(raw: bytes) -> bytes:
    return b""


@pytest.mark.parametrize("corrupt", [_npy_truncated, _npy_garbage, _npy_magic_only, _npy_empty])
def test_read_array_corrupt_npy_raises_user_error(tmp_path: Path, corrupt) -> None:
    good = tmp_path / "good.npy"
    np.save(good, np.arange(12, dtype=np.float32).reshape(3, 4))
    bad = tmp_path / "bad.npy"
    bad.write_bytes(corrupt(good.read_bytes()))

    with pytest.raises(UserError) as info:
        read_array(bad)

    assert str(bad) in str(info.value)


def test_read_array_pickled_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    with pytest.raises(UserError):
        read_array(tmp_path / "obj.npy")


# -- import_vectors ------------------------------------------------------------------------------


def test_import_npy_with_query_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    base = rng.standard_normal((40, 6))
    queries = rng.standard_normal((8, 6))
    np.save(tmp_path / "base.npy", base)
    np.save(tmp_path / "queries.npy", queries)

    dataset = import_vectors(
        tmp_path / "base.npy", metric="ip", queries_path=tmp_path / "queries.npy"
    )

    assert dataset.base.dtype == np.float32 and dataset.queries.dtype == np.float32
    np.testing.assert_array_equal(dataset.base, base.astype(np.float32))
    np.testing.assert_array_equal(dataset.queries, queries.astype(np.float32))
    assert dataset.metric == "ip"
    assert dataset.neighbors is None and dataset.distances is None
    assert dataset.source["queries_from"] == str(tmp_path / "queries.npy")


def test_import_bvecs_becomes_float32(tmp_path: Path) -> None:
    base = sample(".bvecs", n=30, d=8, seed=6)
    queries = sample(".bvecs", n=4, d=8, seed=7)
    write_vecs(tmp_path / "base.bvecs", base)
    write_vecs(tmp_path / "q.bvecs", queries)

    dataset = import_vectors(
        tmp_path / "base.bvecs", metric="euclidean", queries_path=tmp_path / "q.bvecs"
    )

    assert dataset.base.dtype == np.float32
    np.testing.assert_array_equal(dataset.base, base.astype(np.float32))
    np.testing.assert_array_equal(dataset.queries, queries.astype(np.float32))


def test_held_out_split_is_seeded_disjoint_and_complete(tmp_path: Path) -> None:
    original = indexed_rows(60, seed=8)
    write_vecs(tmp_path / "base.fvecs", original)
    path = tmp_path / "base.fvecs"

    first = import_vectors(path, metric="euclidean", n_queries=12, seed=3)
    again = import_vectors(path, metric="euclidean", n_queries=12, seed=3)
    other = import_vectors(path, metric="euclidean", n_queries=12, seed=4)

    assert first.queries.shape == (12, 4) and first.base.shape == (48, 4)
    np.testing.assert_array_equal(first.queries, again.queries)
    np.testing.assert_array_equal(first.base, again.base)
    assert row_ids(first.queries) != row_ids(other.queries)
    base_ids, query_ids = row_ids(first.base), row_ids(first.queries)
    assert not set(base_ids) & set(query_ids)
    assert sorted(base_ids + query_ids) == list(range(60))
    # every row is an unmodified input row
    np.testing.assert_array_equal(first.base, original[base_ids])
    np.testing.assert_array_equal(first.queries, original[query_ids])
    assert first.source["n_queries_held_out"] == 12
    assert first.source["seed"] == 3


def test_held_out_split_labels_follow_base_rows(tmp_path: Path) -> None:
    original = indexed_rows(50, seed=9)
    labels = (np.arange(50) * 7) % 11
    write_vecs(tmp_path / "base.fvecs", original)
    np.save(tmp_path / "labels.npy", labels)

    dataset = import_vectors(
        tmp_path / "base.fvecs",
        metric="euclidean",
        n_queries=10,
        seed=1,
        labels_path=tmp_path / "labels.npy",
    )

    assert dataset.labels.shape == (40,)
    np.testing.assert_array_equal(dataset.labels, labels[row_ids(dataset.base)])


def test_labels_with_query_file_kept_as_is(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    np.save(tmp_path / "base.npy", rng.standard_normal((20, 3)))
    np.save(tmp_path / "q.npy", rng.standard_normal((5, 3)))
    labels = rng.integers(0, 4, size=20)
    np.save(tmp_path / "labels.npy", labels)

    dataset = import_vectors(
        tmp_path / "base.npy",
        metric="euclidean",
        queries_path=tmp_path / "q.npy",
        labels_path=tmp_path / "labels.npy",
    )

    np.testing.assert_array_equal(dataset.labels, labels)


@pytest.mark.parametrize("metric", ["euclidean", "angular", "ip"])
def test_import_ground_truth_ivecs(tmp_path: Path, metric: str) -> None:
    rng = np.random.default_rng(11)
    base = rng.standard_normal((80, 6)).astype(np.float32)
    queries = rng.standard_normal((9, 6)).astype(np.float32)
    ids, dists = top_k(brute_force(base, queries, metric), 10)
    # the file lists each row's neighbours in a scrambled order
    scrambled = np.array([row[rng.permutation(len(row))] for row in ids], dtype=np.int32)
    write_vecs(tmp_path / "base.fvecs", base)
    write_vecs(tmp_path / "q.fvecs", queries)
    write_vecs(tmp_path / "gt.ivecs", scrambled)

    dataset = import_vectors(
        tmp_path / "base.fvecs",
        metric=metric,
        queries_path=tmp_path / "q.fvecs",
        ground_truth_path=tmp_path / "gt.ivecs",
    )

    assert dataset.neighbors.shape == (9, 10)
    assert dataset.neighbors.dtype == np.int64
    for got, expected in zip(dataset.neighbors, ids):
        assert set(got.tolist()) == set(expected.tolist())
    np.testing.assert_allclose(dataset.distances, dists, rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(dataset.distances, axis=1) >= 0)
    # neighbours and distances stay paired after sorting
    paired = np.take_along_axis(brute_force(base, queries, metric), dataset.neighbors, axis=1)
    np.testing.assert_allclose(dataset.distances, paired, rtol=1e-5, atol=1e-6)
    assert dataset.source["ground_truth_from"] == str(tmp_path / "gt.ivecs")


def test_import_ground_truth_npy(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    base = rng.standard_normal((30, 4)).astype(np.float32)
    queries = rng.standard_normal((3, 4)).astype(np.float32)
    ids, dists = top_k(brute_force(base, queries, "euclidean"), 5)
    np.save(tmp_path / "base.npy", base)
    np.save(tmp_path / "q.npy", queries)
    np.save(tmp_path / "gt.npy", ids)

    dataset = import_vectors(
        tmp_path / "base.npy",
        metric="euclidean",
        queries_path=tmp_path / "q.npy",
        ground_truth_path=tmp_path / "gt.npy",
    )

    np.testing.assert_array_equal(dataset.neighbors, ids)
    np.testing.assert_allclose(dataset.distances, dists, rtol=1e-5)


@pytest.mark.parametrize(
    "gt",
    [
        np.array([[0, 1], [2, 3]], dtype=np.int32),  # 2 rows for 3 queries
        np.array([[0, 1], [2, 30], [4, 5]], dtype=np.int32),  # id past the base
        np.array([[0, 1], [2, -1], [4, 5]], dtype=np.int32),  # negative id
    ],
)
def test_import_ground_truth_that_does_not_fit(tmp_path: Path, gt: np.ndarray) -> None:
    rng = np.random.default_rng(13)
    write_vecs(tmp_path / "base.fvecs", rng.standard_normal((30, 4)))
    write_vecs(tmp_path / "q.fvecs", rng.standard_normal((3, 4)))
    write_vecs(tmp_path / "gt.ivecs", gt)

    with pytest.raises(UserError, match="does not fit"):
        import_vectors(
            tmp_path / "base.fvecs",
            metric="euclidean",
            queries_path=tmp_path / "q.fvecs",
            ground_truth_path=tmp_path / "gt.ivecs",
        )


@pytest.fixture
def base_fvecs(tmp_path: Path) -> Path:
    path = tmp_path / "base.fvecs"
    write_vecs(path, np.random.default_rng(14).standard_normal((20, 4)))
    return path


@pytest.mark.parametrize("n_queries", [20, 25, 0, -1])
def test_bad_n_queries(base_fvecs: Path, n_queries: int) -> None:
    with pytest.raises(UserError, match="cannot hold out"):
        import_vectors(base_fvecs, metric="euclidean", n_queries=n_queries)


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "base.txt"
    path.write_text("1 2 3\n")
    with pytest.raises(UserError, match="cannot import"):
        import_vectors(path, metric="euclidean", n_queries=1)


def test_missing_base_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        import_vectors(tmp_path / "nope.fvecs", metric="euclidean", n_queries=1)


def test_missing_query_file(base_fvecs: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        import_vectors(base_fvecs, metric="euclidean", queries_path=tmp_path / "q.fvecs")


def test_missing_labels_file(base_fvecs: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError):
        import_vectors(
            base_fvecs, metric="euclidean", n_queries=5, labels_path=tmp_path / "labels.npy"
        )


@pytest.mark.parametrize("n_labels", [15, 25])
@pytest.mark.parametrize("held_out", [True, False])
def test_labels_of_wrong_length(base_fvecs: Path, tmp_path: Path, n_labels: int, held_out) -> None:
    np.save(tmp_path / "labels.npy", np.arange(n_labels))
    write_vecs(tmp_path / "q.fvecs", np.zeros((3, 4)))
    queries = None if held_out else tmp_path / "q.fvecs"

    with pytest.raises(UserError, match="label"):
        import_vectors(
            base_fvecs,
            metric="euclidean",
            queries_path=queries,
            n_queries=5,
            labels_path=tmp_path / "labels.npy",
        )


def test_ground_truth_without_query_file(base_fvecs: Path, tmp_path: Path) -> None:
    write_vecs(tmp_path / "gt.ivecs", np.zeros((5, 3), dtype=np.int32))
    with pytest.raises(UserError, match="query file"):
        import_vectors(
            base_fvecs, metric="euclidean", n_queries=5, ground_truth_path=tmp_path / "gt.ivecs"
        )


def test_query_dimension_mismatch(base_fvecs: Path, tmp_path: Path) -> None:
    write_vecs(tmp_path / "q.fvecs", np.zeros((3, 5)))
    with pytest.raises(UserError, match="dimension"):
        import_vectors(base_fvecs, metric="euclidean", queries_path=tmp_path / "q.fvecs")


def test_unknown_metric(base_fvecs: Path) -> None:
    with pytest.raises(UserError, match="unsupported distance"):
        import_vectors(base_fvecs, metric="manhattan", n_queries=5)


# -- CLI -----------------------------------------------------------------------------------------


def test_cli_import_held_out_writes_brute_force_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = indexed_rows(400, d=8, seed=15)
    write_vecs(tmp_path / "base.fvecs", original)
    data_dir = tmp_path / "data"
    monkeypatch.chdir(tmp_path)

    code = main(
        ["--data-dir", str(data_dir), "datasets", "import", "mine", "base.fvecs"]
        + ["--n-queries", "50"]
    )

    assert code == 0
    dataset = load_dataset(data_dir / "mine.hdf5")
    assert dataset.queries.shape == (50, 8) and dataset.base.shape == (350, 8)
    assert sorted(row_ids(dataset.base) + row_ids(dataset.queries)) == list(range(400))
    all_dists = brute_force(dataset.base, dataset.queries, "euclidean")
    ids, dists = top_k(all_dists, dataset.ground_truth_k)
    assert dataset.ground_truth_k == 100
    for got, expected in zip(dataset.neighbors, ids):
        assert set(got.tolist()) == set(expected.tolist())
    np.testing.assert_allclose(dataset.distances, dists, rtol=1e-5, atol=1e-5)
    paired = np.take_along_axis(all_dists, dataset.neighbors, axis=1)
    np.testing.assert_allclose(dataset.distances, paired, rtol=1e-5, atol=1e-5)


def test_cli_import_missing_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    code = main(
        ["--data-dir", str(tmp_path / "data"), "datasets", "import", "mine", "missing.fvecs"]
    )

    assert code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("annbench: error:")
    assert "missing.fvecs" in lines[0]
    assert not (tmp_path / "data" / "mine.hdf5").exists()


def test_import_names_the_source_row_of_a_bad_vector_and_refuses_folders(cli, tmp_path):
    """A NaN in a base file with held-out queries is named by its row in that file (not its
    row in the stored base); a value beyond float32 is refused without a warning; a folder
    named like a vector file is one line."""
    base = np.random.default_rng(0).standard_normal((3000, 8)).astype(np.float32)
    base[2500, 3] = np.nan
    write_vecs(tmp_path / "nan.fvecs", base)
    np.save(tmp_path / "huge.npy", np.full((50, 4), 1e300))
    (tmp_path / "folder.fvecs").mkdir()
    cases = {
        "nan.fvecs": "nan.fvecs: row 2500 holds NaN or infinite values",
        "huge.npy": "huge.npy: row 0 holds NaN or infinite values",
        "folder.fvecs": "folder.fvecs is not a file",
    }
    for name, message in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an overflow warning would surface here
            status, _, err = cli("datasets", "import", "x", tmp_path / name, "--n-queries", "5")
        assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err and "Warning" not in err
