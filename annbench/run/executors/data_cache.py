"""One local copy per machine of a dataset that a cluster's jobs fetch by URL.

The copy lives in ``ANNBENCH_DATA_CACHE`` (default: a folder in the temporary directory), named
by the URL. It is made under an exclusive ``flock`` on a lock file beside it, written to a
temporary name, checked against the job's dataset hash and only then renamed into place: of
several tasks on one machine that want the same file, one downloads it and the others wait and
reuse it; a reader never sees half a file, and a changed source is fetched again. The check
hashes the vectors' bytes once per copy and keeps the result beside it (``NAME.sha256``), so
later tasks compare the copy's size and time, not its contents. The folder and lock files are
shared by every user of the machine.
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
    from annbench.run.executors.pinning import shared_folder, shared_lock_file

    folder = shared_folder(cache_folder())
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    target = folder / f"{key}-{Path(url.rstrip('/')).name or 'dataset'}"
    with shared_lock_file(target.with_name(target.name + ".lock")) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists() and _matches(target, expected_hash, workload):
            return target, False
        for stale in folder.glob(f".{target.name}.*.partial"):  # left by a killed download
            stale.unlink(missing_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            _download(url, partial)
            if not _matches(partial, expected_hash, workload):
                raise UserError(
                    f"{url} does not hold the dataset the run was planned with (its content "
                    "hash differs); copy the planned file there again"
                )
            os.replace(partial, target)
            _sidecar(partial).replace(_sidecar(target))
        finally:
            partial.unlink(missing_ok=True)
            _sidecar(partial).unlink(missing_ok=True)
    return target, True


def _download(url: str, out: Path) -> None:
    import fsspec

    try:
        with fsspec.open(url, "rb") as source, open(out, "wb") as sink:
            shutil.copyfileobj(source, sink, BLOCK)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot fetch {url} ({exc}); check --data-url") from None


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _content_digest(path: Path) -> str:
    """The hash of the file's vectors, computed from its bytes once and kept beside it (with
    the file's size and modification time, so a changed file is hashed again)."""
    from annbench.datasets.store import content_hash_file

    stat = path.stat()
    stamp = f"{stat.st_size} {stat.st_mtime_ns}"
    with contextlib.suppress(OSError, ValueError):
        saved, digest = _sidecar(path).read_text().rsplit(" ", 1)
        if saved == stamp:
            return digest
    digest = content_hash_file(path)
    _sidecar(path).write_text(f"{stamp} {digest}")
    return digest


def _matches(path: Path, expected_hash: str, workload: str) -> bool:
    """Whether the file's vectors hash to what the run was planned with: the bytes are
    hashed, never only the hash the file claims for itself."""
    from annbench.datasets.filter_layout import workload_hash, workload_names
    from annbench.datasets.store import dataset_info, open_h5

    try:
        digest = _content_digest(path)
        claimed = dataset_info(path)["content_hash"]
        if claimed and claimed != digest:
            return False  # damaged in transit
        if not workload:
            return digest == expected_hash
        with open_h5(path, "dataset", "fetch it again") as f:
            if workload not in workload_names(f):
                return False
            combined = f"{digest}:{workload_hash(f, workload)}"
        return hashlib.sha256(combined.encode()).hexdigest() == expected_hash
    except (UserError, OSError):
        return False
