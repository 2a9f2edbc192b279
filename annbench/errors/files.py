"""Every file a command writes goes through here: atomically, and with an OS error turned into
one line (what, where, how to fix) instead of a traceback."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from annbench.errors import UserError

HINTS = {
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "check its permissions or choose another path",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENOSPC: "the disk is full; free space or choose another path",
    errno.EFBIG: "the file is larger than this process may write (ulimit -f) or the file "
    "system holds; raise the limit or choose another path",
    errno.EISDIR: "it is a folder; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENAMETOOLONG: "shorten the path",
}


def os_error(exc: OSError, path: str | os.PathLike, doing: str = "write") -> UserError:
    """One line for an OS error met while doing something to ``path``."""
    reason, number = " ".join((exc.strerror or str(exc)).split()), exc.errno
    # HDF5 reports the system's error inside its own (multi-line) message
    found = re.search(r"errno = (\d+), error message = '([^']*)'", reason)
    if found:
        number, reason = number or int(found[1]), found[2]
    hint = HINTS.get(number or 0, "check the path")
    return UserError(f"cannot {doing} {path}: {reason}; {hint}")


@contextlib.contextmanager
def os_errors(path: str | os.PathLike, doing: str = "write") -> Iterator[None]:
    """Turn an OSError raised inside the block into a one-line UserError about ``path``."""
    try:
        yield
    except UserError:
        raise
    except OSError as exc:
        raise os_error(exc, path, doing) from None


def ensure_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (and parents) or say in one line why it cannot be."""
    folder = Path(folder)
    with os_errors(folder, "create the folder"):
        folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write into; moved over ``path`` only when the block
    finishes, removed otherwise, so readers see the old file or the whole new one."""
    path = Path(path)
    ensure_folder(path.parent)
    with os_errors(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    try:
        with os_errors(path):
            yield Path(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; others may need to read
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; one line on failure."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """A UTF-8 text file's contents, or one line saying why it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist")
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; give a file")
    try:
        with os_errors(path, "read"):
            return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def read_yaml(path: str | os.PathLike, what: str = "file"):
    """A YAML file's contents; a syntax error is one line that keeps its line and column."""
    import yaml

    text = read_text(path, what)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{what} {path} is not valid YAML: {yaml_problem(exc)}") from None


def yaml_problem(exc: Exception) -> str:
    """'PROBLEM at line L, column C' for a YAML error (lines and columns counted from 1)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return " ".join(str(problem).split())
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
