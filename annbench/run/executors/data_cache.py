"""One local copy per machine of a dataset that a cluster's jobs fetch by URL.

The copy lives in ``ANNBENCH_DATA_CACHE`` (default: a folder in the temporary directory), named
by the URL. It is made under an exclusive ``flock`` on a lock file beside it, written to a
temporary name, checked against the job's dataset hash and only then renamed into place: of
several tasks on one machine that want the same file, one downloads it and the others wait and
reuse it; a reader never sees half a file, and a changed source is fetched again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from annbench.errors import UserError

CACHE_ENV = "ANNBENCH_DATA_CACHE"
BLOCK = 16 << 20


def cache_folder() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir(), "annbench-data"))


def local_copy(url: str, expected_hash: str, workload: str = "") -> tuple[Path, bool]:
    """A checked local copy of the dataset at ``url`` and whether this call fetched it (False:
    it was already there)."""
    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    target = folder / f"{key}-{Path(url.rstrip('/')).name or 'dataset'}"
    with _locked(target.with_name(target.name + ".lock")):
        if target.exists() and _matches(target, expected_hash, workload):
            return target, False
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            _download(url, partial)
            if not _matches(partial, expected_hash, workload):
                raise UserError(
                    f"{url} does not hold the dataset the run was planned with (its content "
                    "hash differs); copy the planned file there again"
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target, True


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download(url: str, out: Path) -> None:
    import fsspec

    try:
        with fsspec.open(url, "rb") as source, open(out, "wb") as sink:
            shutil.copyfileobj(source, sink, BLOCK)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot fetch {url} ({exc}); check --data-url") from None


def _matches(path: Path, expected_hash: str, workload: str) -> bool:
    from annbench.datasets.store import dataset_hash

    try:
        return dataset_hash(path, workload) == expected_hash
    except UserError:
        return False
