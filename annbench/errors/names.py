"""Every name a user gives that becomes part of a path is checked here, once.

A name (a dataset, a result folder, a report page) is 1-100 characters from letters, digits,
'.', '_' and '-', starting with a letter or a digit, holding no '..' and not ending in a file
suffix annbench reads as a path (.hdf5, .h5). Such a name maps to exactly one file name, so
two names never share a file, and no name leaves its folder. ``inside`` checks the other half:
a path built from a folder and names still resolves under that folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from annbench.errors import UserError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
PATH_SUFFIXES = (".hdf5", ".h5")
ALLOWED = (
    "1-100 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..' "
    "and not ending in .hdf5 or .h5"
)


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a usable name, or None when it is."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if not NAME_PATTERN.fullmatch(name):
        return "holds characters outside the allowed set" if name else "is empty"
    if ".." in name:
        return "holds '..'"
    if name.lower().endswith(PATH_SUFFIXES):
        return "ends in a file suffix"
    return None


def check_name(name: object, what: str = "name", fix: str = "") -> str:
    """``name`` unchanged when it is usable; otherwise one line saying what is allowed (and
    ``fix``, how to get there, where the name comes from something else, a file name)."""
    problem = name_problem(name)
    if problem:
        raise UserError(f"{what} {name!r} {problem}; {fix or 'use'} {ALLOWED}")
    return name  # type: ignore[return-value]


def file_stem(name: str) -> str:
    """A file name stem for ``name`` that no other name shares: a valid name is its own stem;
    any other (from results written before names were checked) becomes '_' + its safe
    characters + a hash of the whole, so two names never map to one file."""
    if name_problem(name) is None:
        return name
    import hashlib

    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))[:60]
    return f"_{safe}-{hashlib.sha256(str(name).encode()).hexdigest()[:10]}"


def inside(folder: str | os.PathLike, *parts: str) -> Path:
    """``folder / parts...``, refused unless it resolves inside ``folder`` (symbolic links
    included), so nothing built from names is read or written elsewhere."""
    root = Path(folder).resolve()
    path = Path(folder).joinpath(*parts)
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UserError(f"{path} resolves to {resolved}, outside {root}; refusing to use it")
    return path
