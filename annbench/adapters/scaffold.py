"""`annbench adapters new NAME`: a working adapter folder from the templates."""

from __future__ import annotations

from pathlib import Path
from string import Template

from annbench.adapters.registry import NAME_PATTERN
from annbench.errors import UserError

TEMPLATES = Path(__file__).parent / "template"
FILES = ("adapter.py", "spec.yml", "Dockerfile", "test_adapter.py")


def new_adapter(name: str, parent: str | Path) -> Path:
    """Write ``parent/name`` with an adapter module, spec, Dockerfile and conformance test."""
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(f"adapter name {name!r} may only hold letters, digits, '.', '_' and '-'")
    folder = Path(parent) / name
    if folder.exists():
        raise UserError(f"{folder} already exists; choose another name or remove it")
    identifier = "".join(c if c.isalnum() else "_" for c in name).strip("_").lower() or "adapter"
    words = {
        "name": name,
        "class_name": "".join(part.capitalize() for part in identifier.split("_")) + "Adapter",
        "identifier": identifier,
        "folder": str(folder),
    }
    folder.mkdir(parents=True)
    for file in FILES:
        text = (TEMPLATES / f"{file}.tmpl").read_text()
        (folder / file).write_text(Template(text).substitute(words))
    return folder
