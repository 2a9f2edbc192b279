"""Seeded synthetic data: every generator takes its parameters and a numpy Generator.

Each generator returns (base, queries, labels or None). ``make_synthetic`` wraps the result in a
Dataset whose ``source`` records the generator, its parameters and the seed, so the file says
how to make it again.
"""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from annbench.datasets.store import Dataset
from annbench.datasets.synthetic_blocks import (
    blob_block,
    blobs_noise,
    finished_aside,
    latent_blocks,
    split_queries,
)
from annbench.errors import UserError

Arrays = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]
#: a piece of a generated dataset, in the order it is drawn: ("labels" | "base" | "queries", array)
Part = tuple[str, np.ndarray]


def gauss(rng: np.random.Generator, n: int = 10_000, n_queries: int = 100, dim: int = 32) -> Arrays:
    """Isotropic standard normal base and queries."""
    return collect(gauss_parts(rng, n, n_queries, dim, rows=max(n, 1)))


def gauss_parts(
    rng: np.random.Generator, n: int, n_queries: int, dim: int, *, rows: int
) -> Iterator[Part]:
    """``gauss`` as parts: base blocks of ``rows`` vectors, then the queries (the same draws)."""
    for start in range(0, n, rows):
        yield "base", rng.standard_normal((min(rows, n - start), dim), dtype=np.float32)
    yield "queries", rng.standard_normal((n_queries, dim), dtype=np.float32)


def blobs(
    rng: np.random.Generator,
    n: int = 10_000,
    n_queries: int = 100,
    dim: int = 32,
    n_clusters: int = 10,
    cluster_std: float = 1.0,
    center_spread: float = 1.0,
) -> Arrays:
    """A mixture of Gaussian clusters; ``labels`` holds each base vector's cluster.

    Centres are drawn from N(0, center_spread^2 I) and points from N(centre, cluster_std^2 I).
    With both spreads equal the clusters overlap, which keeps graph indexes honest.
    Queries come from the same mixture (their clusters are not stored).
    """
    return collect(
        blobs_parts(rng, n, n_queries, dim, n_clusters, cluster_std, center_spread, rows=max(n, 1))
    )


def blobs_parts(
    rng: np.random.Generator,
    n: int,
    n_queries: int,
    dim: int,
    n_clusters: int,
    cluster_std: float,
    center_spread: float,
    *,
    rows: int,
) -> Iterator[Part]:
    """``blobs`` as parts: the labels, base blocks of ``rows`` vectors, the queries. The
    float64 noise is drawn block by block in the order the whole draw takes it."""
    if n_clusters < 1:
        raise UserError("blobs needs n_clusters >= 1")
    if cluster_std < 0 or center_spread < 0:  # refused before any block is drawn
        raise UserError(
            f"blobs needs cluster_std >= 0 and center_spread >= 0, got {cluster_std} and "
            f"{center_spread}"
        )
    centers = rng.normal(0.0, center_spread, size=(n_clusters, dim)).astype(np.float32)
    labels = rng.integers(0, n_clusters, size=n)
    query_labels = rng.integers(0, n_clusters, size=n_queries)
    yield "labels", labels.astype(np.int64)
    yield from _as_base(
        finished_aside(
            blobs_noise(rng, n, dim, rows),
            lambda start, noise: blob_block(
                centers, labels[start : start + len(noise)], noise, cluster_std
            ),
        )
    )
    queries = centers[query_labels]
    queries += rng.normal(0.0, cluster_std, size=(n_queries, dim)).astype(np.float32)
    yield "queries", queries


def _as_base(blocks: Iterable[np.ndarray]) -> Iterator[Part]:
    return (("base", block) for block in blocks)


def collect(parts: Iterable[Part]) -> Arrays:
    """(base, queries, labels) from a generator's parts."""
    found: dict[str, list[np.ndarray]] = {"base": [], "queries": [], "labels": []}
    for kind, array in parts:
        found[kind].append(array)
    base = found["base"][0] if len(found["base"]) == 1 else np.concatenate(found["base"])
    labels = found["labels"][0] if found["labels"] else None
    return base, found["queries"][0], labels


def _check_subspace(dim: int, d_int: int, noise: float) -> None:
    if not 1 <= d_int <= dim:
        raise UserError(f"d_int={d_int} must be between 1 and the ambient dimension dim={dim}")
    if noise < 0:
        raise UserError(f"noise must be >= 0, got {noise}")


def subspace(
    rng: np.random.Generator,
    n: int = 10_000,
    n_queries: int = 100,
    dim: int = 1024,
    d_int: int = 16,
    noise: float = 0.0,
) -> Arrays:
    """Points X = C U on a random d_int-dimensional linear subspace of R^dim.

    U holds d_int orthonormal vectors (Gram-Schmidt, via QR), C is standard normal; optional
    isotropic noise of standard deviation ``noise`` lifts the data off the subspace.
    """
    return collect(subspace_parts(rng, n, n_queries, dim, d_int, noise, rows=n + n_queries))


def subspace_parts(
    rng: np.random.Generator,
    n: int,
    n_queries: int,
    dim: int,
    d_int: int,
    noise: float,
    *,
    rows: int,
) -> Iterator[Part]:
    """``subspace`` as parts: base blocks of about ``rows`` vectors, then the queries."""
    _check_subspace(dim, d_int, noise)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, d_int)))

    def finish(latent: np.ndarray, lifted: np.ndarray | None) -> np.ndarray:
        points = latent @ basis.T
        if lifted is not None:
            points += lifted
        return points.astype(np.float32)

    drawn = latent_blocks(rng, n + n_queries, d_int, dim, noise, rows)
    yield from split_queries(finished_aside(drawn, finish), n)


def manifold(
    rng: np.random.Generator,
    n: int = 10_000,
    n_queries: int = 100,
    dim: int = 128,
    d_int: int = 4,
    noise: float = 0.0,
    frequency: float = 1.0,
) -> Arrays:
    """A curved d_int-dimensional manifold in R^dim: a smooth random map of a normal latent.

    f(z) = A sin(W z + b) with random frequencies W ~ N(0, frequency^2), phases b and mixing
    A: locally d_int-dimensional, but curved, so PCA needs many more than d_int components.
    """
    parts = manifold_parts(rng, n, n_queries, dim, d_int, noise, frequency, rows=n + n_queries)
    return collect(parts)


def manifold_parts(
    rng: np.random.Generator,
    n: int,
    n_queries: int,
    dim: int,
    d_int: int,
    noise: float,
    frequency: float,
    *,
    rows: int,
) -> Iterator[Part]:
    """``manifold`` as parts: base blocks of about ``rows`` vectors, then the queries."""
    _check_subspace(dim, d_int, noise)
    features = 2 * dim
    frequencies = rng.normal(0.0, frequency, size=(d_int, features))
    phases = rng.uniform(0.0, 2 * np.pi, size=features)
    mixing = rng.standard_normal((features, dim)) / np.sqrt(features)

    def finish(latent: np.ndarray, lifted: np.ndarray | None) -> np.ndarray:
        points = np.sin(latent @ frequencies + phases) @ mixing
        if lifted is not None:
            points += lifted
        return points.astype(np.float32)

    # the (rows, 2 dim) float64 features are the largest array per block
    drawn = latent_blocks(rng, n + n_queries, d_int, dim, noise, max(2, rows // 2))
    yield from split_queries(finished_aside(drawn, finish), n)


GENERATORS: dict[str, Callable[..., Arrays]] = {
    "gauss": gauss,
    "blobs": blobs,
    "subspace": subspace,
    "manifold": manifold,
}
#: generators whose realised intrinsic dimension is measured and stored with the data
MEASURED = {"subspace", "manifold"}


def generator_params(name: str) -> dict[str, Any]:
    """The parameters a generator accepts, with their defaults."""
    signature = inspect.signature(_generator(name))
    return {p: v.default for p, v in list(signature.parameters.items())[1:]}


def describe_generators() -> list[dict[str, Any]]:
    """Every generator with its summary and parameters (name, type, default), for listings."""
    rows = []
    for name, function in GENERATORS.items():
        doc = (inspect.getdoc(function) or "").split("\n\n")[0].replace("\n", " ")
        params = [
            {"name": key, "type": type(default).__name__, "default": default}
            for key, default in generator_params(name).items()
        ]
        rows.append({"name": name, "summary": doc, "params": params})
    return rows


# bytes per component at the peak of making subspace or manifold: the base read back for
# pointwise LID (4), its unit-normalised copy for angular (4) and the LID's neighbour search
# (annbench.intrinsic, about 3.4 bases)
BYTES_PER_COMPONENT = 24
#: generators made block by block (memory: their side arrays and a few blocks, not the base)
STREAMED = {
    "gauss": gauss_parts,
    "blobs": blobs_parts,
    "subspace": subspace_parts,
    "manifold": manifold_parts,
}
GENERATE_BYTES = 64 << 20  # float64 noise drawn per block by a streamed generator


def check_memory(name: str, params: dict[str, Any], folder: Path | None = None) -> None:
    """Refuse, in one line, a dataset that would not fit in the memory available now (or,
    made block by block into ``folder``, on its disk)."""
    import psutil

    rows = params["n"] + params["n_queries"]
    need = 8 * rows + 8 * GENERATE_BYTES
    if name in MEASURED or name not in STREAMED:
        need = max(need, BYTES_PER_COMPONENT * rows * params["dim"])
    available = psutil.virtual_memory().available
    if need > available:
        raise UserError(
            f"generator {name!r} with n={params['n']}, n_queries={params['n_queries']}, "
            f"dim={params['dim']} needs about {need / 2**30:,.1f} GiB, more than the "
            f"{available / 2**30:,.1f} GiB available; lower n or dim"
        )
    if folder is not None and name in STREAMED:
        disk = 4 * rows * params["dim"]
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        if disk > free:
            raise UserError(
                f"generator {name!r} with n={params['n']}, n_queries={params['n_queries']}, "
                f"dim={params['dim']} writes about {disk / 2**30:,.1f} GiB, more than the "
                f"{free / 2**30:,.1f} GiB free in {folder}; lower n or dim"
            )


def generator_parts(name: str, params: dict[str, Any], seed: int) -> Iterator[Part]:
    """A streamed generator's parts (labels, base blocks, queries) for resolved ``params``."""
    rows = max(2, GENERATE_BYTES // (8 * params["dim"]))
    parts = STREAMED[name](np.random.default_rng(seed), **params, rows=rows)
    try:
        yield from parts
    except (ValueError, OverflowError) as exc:
        raise UserError(f"generator {name!r} refused its parameters {params}: {exc}") from None


def _generator(name: str) -> Callable[..., Arrays]:
    try:
        return GENERATORS[name]
    except KeyError:
        known = ", ".join(sorted(GENERATORS))
        raise UserError(f"unknown generator {name!r}; choose one of: {known}") from None


def resolve_params(name: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """A generator's full parameters: its defaults, overridden by ``params`` (command-line
    strings or numbers), each checked."""
    defaults = generator_params(name)
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise UserError(
            f"generator {name!r} has no parameter {', '.join(unknown)}; "
            f"it takes: {', '.join(defaults)}"
        )
    merged = {
        **defaults,
        **{key: _coerce(key, defaults[key], value) for key, value in params.items()},
    }
    for key in ("n", "n_queries", "dim"):
        if merged[key] < 1:
            raise UserError(f"generator {name!r}: {key} must be >= 1, got {merged[key]}")
    return merged


def make_synthetic(
    name: str, params: dict[str, Any] | None = None, *, seed: int = 0, metric: str = "euclidean"
) -> Dataset:
    """Generate a dataset (without ground truth) from a named generator."""
    merged = resolve_params(name, params)
    check_memory(name, merged)
    try:
        base, queries, labels = _generator(name)(np.random.default_rng(seed), **merged)
    except MemoryError:
        raise UserError(
            f"generator {name!r} ran out of memory with {merged}; lower n or dim"
        ) from None
    except (ValueError, OverflowError) as exc:
        raise UserError(f"generator {name!r} refused its parameters {merged}: {exc}") from None
    source = {"generator": name, "params": merged, "seed": seed}
    dataset = Dataset(base=base, queries=queries, metric=metric, labels=labels, source=source)
    if name in MEASURED:
        from annbench.datasets.annotate import annotate_intrinsic

        annotate_intrinsic(dataset, progress=False)
    return dataset


def _coerce(key: str, default: Any, value: Any) -> Any:
    """Turn a command-line string into the type of the parameter's default; refuse a value of
    another type (from a catalog or a spec)."""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"parameter {key}: {value!r} is not a number")
        if not np.isfinite(value):
            raise UserError(f"parameter {key}: {value!r} is not a finite number")
        if isinstance(default, int) and not float(value).is_integer():
            raise UserError(f"parameter {key}: {value!r} is not a whole number")
        return int(value) if isinstance(default, int) else float(value)
    if isinstance(default, str):
        return value
    try:
        number = float(value)
    except ValueError:
        raise UserError(f"parameter {key}: cannot read {value!r} as a number") from None
    if not np.isfinite(number):
        raise UserError(f"parameter {key}: {value!r} is not a finite number")
    if isinstance(default, int):
        if not number.is_integer():
            raise UserError(f"parameter {key}: {value!r} is not a whole number")
        return int(number)
    return number
