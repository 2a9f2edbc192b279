"""Seeded dataset cases made two ways, for the tests of the block-wise rewrite (issue 20):
with the frozen ``tests.reference_v1`` and with the live command line.

``reference_file(case, folder)`` and ``live_file(case, folder)`` write the case's dataset file;
``stored(path)`` reads every array and attribute of a file back for comparison;
``summary(path)`` is what ``tests/data/golden-datasets.json`` keeps of it: sha256 of the arrays
that do not depend on the CPU (RNG output, ids), sums of the float arrays (compared with a
tolerance, as BLAS and libm round differently on other CPUs).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from annbench.datasets.formats import write_vecs

BLOBS = {"n": 3000, "n_queries": 40, "dim": 12, "n_clusters": 5}
MAKES = {
    "gauss-euclidean": ("gauss", {"n": 2000, "n_queries": 50, "dim": 16}, "euclidean", 7),
    "blobs-euclidean": ("blobs", BLOBS, "euclidean", 3),
    "blobs-angular": ("blobs", BLOBS, "angular", 4),
    "blobs-ip": ("blobs", BLOBS, "ip", 5),
}
IMPORTS = ("fvecs-held-out", "bvecs-queries-ivecs", "npy-labels")
GOLDEN_CASES = (*MAKES, "fvecs-held-out", "bvecs-queries-ivecs")
K = 10  # ground truth of the made cases (imports keep the command's default, 100)
EXACT = ("train", "test", "neighbors", "labels", "query_labels")


def import_inputs(folder: Path) -> dict[str, dict[str, Path]]:
    """Seeded input files of the import cases, written into ``folder``."""
    rng = np.random.default_rng(11)
    folder.mkdir(parents=True, exist_ok=True)
    write_vecs(folder / "base.fvecs", rng.standard_normal((2500, 10)).astype(np.float32))
    bytes_base = rng.integers(0, 256, size=(2000, 8), dtype=np.uint8)
    bytes_queries = rng.integers(0, 256, size=(20, 8), dtype=np.uint8)
    write_vecs(folder / "base.bvecs", bytes_base)
    write_vecs(folder / "queries.bvecs", bytes_queries)
    squared = (
        (bytes_queries[:, None, :].astype(np.int64) - bytes_base[None].astype(np.int64)) ** 2
    ).sum(-1)
    write_vecs(folder / "truth.ivecs", np.argsort(squared, axis=1, kind="stable")[:, :K])
    np.save(folder / "base.npy", rng.standard_normal((1800, 6)))  # float64: cast on import
    np.save(folder / "labels.npy", rng.integers(0, 4, size=1800))
    return {
        "fvecs-held-out": {"base": folder / "base.fvecs", "n_queries": 30},
        "bvecs-queries-ivecs": {
            "base": folder / "base.bvecs",
            "queries": folder / "queries.bvecs",
            "ground_truth": folder / "truth.ivecs",
        },
        "npy-labels": {
            "base": folder / "base.npy",
            "labels": folder / "labels.npy",
            "n_queries": 25,
        },
    }


def metric_of(case: str) -> str:
    return MAKES[case][2] if case in MAKES else {"npy-labels": "angular"}.get(case, "euclidean")


def reference_file(case: str, folder: Path) -> Path:
    """The case's dataset file made by the frozen pre-rewrite code."""
    from tests import reference_v1 as v1

    path = folder / f"v1-{case}.hdf5"
    if case in MAKES:
        generator, params, metric, seed = MAKES[case]
        full = {**_defaults(generator), **params}
        dataset = v1.make(generator, full, seed=seed, metric=metric)
    else:
        spec = import_inputs(folder / "inputs")[case]
        dataset = v1.import_vectors(
            spec["base"],
            metric=metric_of(case),
            queries_path=spec.get("queries"),
            n_queries=spec.get("n_queries", 1000),
            ground_truth_path=spec.get("ground_truth"),
            labels_path=spec.get("labels"),
        )
    return v1.save_with_ground_truth(dataset, path, k=K if case in MAKES else 100)


def live_argv(case: str, folder: Path) -> list[str]:
    """The command line that makes the case with the live code into ``folder/data``."""
    common = ["--data-dir", str(folder / "data"), "datasets"]
    metric = ["--metric", metric_of(case)]
    if case in MAKES:
        generator, params, _, seed = MAKES[case]
        pairs = [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]
        return [*common, "make", case, "-g", generator, *pairs, "--seed", str(seed)]
    spec = import_inputs(folder / "inputs")[case]
    argv = [*common, "import", case, str(spec["base"]), *metric]
    for option in ("queries", "ground_truth", "labels", "n_queries"):
        if option in spec:
            argv += [f"--{option.replace('_', '-')}", str(spec[option])]
    return argv


def live_file(case: str, folder: Path) -> Path:
    from annbench.cli import main

    argv = live_argv(case, folder)
    if case in MAKES:
        argv += ["--metric", metric_of(case), "--k", str(K)]
    status = main(argv)
    assert status in (0, None), f"{argv} exited {status}"
    return folder / "data" / f"{case}.hdf5"


def stored(path: Path) -> dict[str, object]:
    """Every array (as numpy) and attribute of a dataset file, by its HDF5 name."""
    import h5py

    out: dict[str, object] = {}
    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            out[f"@{key}"] = value

        def visit(name, item):
            if isinstance(item, h5py.Dataset):
                out[name] = item[()]
                out[f"{name}:dtype"] = str(item.dtype)
            for key, value in item.attrs.items():
                out[f"{name}@{key}"] = value

        f.visititems(visit)
    return out


def summary(path: Path) -> dict[str, object]:
    """sha256 of the CPU-independent arrays, sums of the others, the stored content hash."""
    values = stored(path)
    out: dict[str, object] = {"content_hash": str(values["@annbench_content_hash"])}
    for name, value in sorted(values.items()):
        if not isinstance(value, np.ndarray) or ":" in name or "@" in name:
            continue
        if name in EXACT:
            out[name] = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        else:
            out[name] = float(np.sum(value, dtype=np.float64))
    return out


def _defaults(generator: str) -> dict:
    from annbench.datasets.synthetic import generator_params

    return generator_params(generator)


def dump(summaries: dict, commit: str) -> str:
    return json.dumps({"commit": commit, "cases": summaries}, indent=1, sort_keys=True) + "\n"
