"""`annbench adapters new NAME`: a working adapter folder from the templates."""

from __future__ import annotations

from pathlib import Path
from string import Template

from annbench.errors import UserError
from annbench.errors.files import ensure_folder, os_errors
from annbench.errors.names import check_name

TEMPLATES = Path(__file__).parent / "template"
FILES = ("adapter.py", "spec.yml", "Dockerfile", "test_adapter.py")


def new_adapter(name: str, parent: str | Path) -> Path:
    """Write ``parent/name`` with an adapter module, spec, Dockerfile and conformance test (all
    of it or, on an error, nothing)."""
    import shutil
    import tempfile

    folder = Path(parent) / check_name(name, "adapter name")
    if folder.exists():
        raise UserError(f"{folder} already exists; choose another name or remove it")
    identifier = "".join(c if c.isalnum() else "_" for c in name).strip("_").lower() or "adapter"
    words = {
        "name": name,
        "class_name": "".join(part.capitalize() for part in identifier.split("_")) + "Adapter",
        "identifier": identifier,
        "folder": str(folder),
    }
    ensure_folder(folder.parent)
    with os_errors(folder):
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{name}."))
        try:
            for file in FILES:
                text = (TEMPLATES / f"{file}.tmpl").read_text()
                (staging / file).write_text(Template(text).substitute(words))
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder
