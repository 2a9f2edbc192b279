"""How the report writes a number and refers to a figure: shared by its page builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def number(value: Any, digits: int = 3) -> str:
    """A figure for a table cell: "–" where there is none (None, NaN, inf), thousands
    separated from 100 on, else ``digits`` decimals."""
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (int, np.integer)) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def figure(paths: list[Path], out: Path, caption: str) -> dict[str, str]:
    """A figure's SVG and PNG, relative to the report folder ``out``, with its caption."""
    svg, png = (str(p.relative_to(out)) for p in sorted(paths, key=lambda p: p.suffix != ".svg"))
    return {"svg": svg, "png": png, "caption": caption}
