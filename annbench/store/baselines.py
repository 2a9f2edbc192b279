"""Baseline files for the gate: written atomically, read back checked (JSON; the format is
``annbench.analysis.gate``'s document)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from annbench.analysis.gate import FORMAT, VERSION, check_document
from annbench.errors import UserError
from annbench.errors.files import read_text, write_text


def save_baseline(document: dict[str, Any], path: str | os.PathLike) -> Path:
    return write_text(path, json.dumps(document, indent=1, sort_keys=True))


def load_baseline(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise UserError(f"baseline {path} does not exist; make one with `annbench baseline save`")
    try:
        document = json.loads(read_text(path, "baseline"))
    except json.JSONDecodeError as exc:
        raise UserError(f"baseline {path} is not valid JSON ({exc}); save it again") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UserError(f"{path} is not an annbench baseline (no format: {FORMAT!r})")
    if document.get("version", 0) > VERSION:
        raise UserError(
            f"baseline {path} has version {document['version']}, newer than this "
            f"annbench reads ({VERSION}); upgrade annbench"
        )
    for key in ("points", "frontiers"):
        if not isinstance(document.get(key), list):
            raise UserError(f"baseline {path} lacks its '{key}' list; save it again")
    check_document(document, f"baseline {path}")
    return document
