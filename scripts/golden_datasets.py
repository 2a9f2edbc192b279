"""Write tests/data/golden-datasets.json: what the pre-rewrite code stored for seeded cases.

Run from the repository root: ``.venv/bin/python scripts/golden_datasets.py``. The cases and
the summary (sha256 of the CPU-independent arrays, sums of the float ones) are in
tests/dataset_cases.py; the file records the commit it was made at.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.dataset_cases import GOLDEN_CASES, dump, reference_file, summary

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        summaries = {case: summary(reference_file(case, Path(folder))) for case in GOLDEN_CASES}
    (ROOT / "tests" / "data" / "golden-datasets.json").write_text(dump(summaries, commit))


if __name__ == "__main__":
    main()
