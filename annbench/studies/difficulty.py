"""The query-difficulty study: hnswlib and faiss-ivf at fixed build parameters on one dataset,
its easy and hard query sets (by LID) and an out-of-distribution query set; recall per
difficulty quintile, easy against hard, and the effort (QPS at recall 0.9) in and out of
distribution."""

from __future__ import annotations

import math
import os
from pathlib import Path

from annbench.run.plan import Experiment

# the point of each index its tables report (the others trace the recall-QPS frontier)
REFERENCE = {"hnswlib": "ef=10", "faiss-ivf": "nprobe=2"}
EF = [10, 20, 40, 80, 160, 320]
NPROBE = [1, 2, 4, 8, 16, 32, 64]
SET_MEASURE = "lid"
DEFAULT_SHIFT = 1.0


def difficulty_adapters(n_base: int) -> list[dict]:
    nlist = max(1, int(round(math.sqrt(n_base))))
    return [
        {
            "name": "hnswlib",
            "build": {"M": [16], "ef_construction": [128]},
            "query": {"ef": EF},
        },
        {"name": "faiss-ivf", "build": {"nlist": [nlist]}, "query": {"nprobe": NPROBE}},
    ]


def _current(path: Path, parent_hash: str, wanted: dict) -> bool:
    """Whether a derived dataset at ``path`` was made from this parent content, this way."""
    from annbench.datasets.store import dataset_info

    if not path.exists():
        return False
    source = dataset_info(path)["source"]
    return source.get("parent_content_hash") == parent_hash and all(
        source.get(key) == value for key, value in wanted.items()
    )


def ood_kind_for(source: dict) -> str:
    """Text of another kind for WordNet embeddings, an off-subspace lift for anything else."""
    return "words" if source.get("generator") == "wordnet-minilm" else "noise"


def study_datasets(
    dataset: str,
    data_dir: str | os.PathLike,
    *,
    n_set: int | None = None,
    ood_kind: str | None = None,
    shift: float = DEFAULT_SHIFT,
    seed: int = 0,
    progress: bool | None = None,
) -> dict[str, str]:
    """The study's query sets as dataset names: ``all`` (the dataset itself), ``easy`` and
    ``hard`` (by LID_100, a fifth of the queries each unless ``n_set``), ``ood``. Derived
    files are made in the data folder, or reused where they came from this same content."""
    from annbench.datasets.annotate import ensure_query_measures
    from annbench.datasets.catalog import dataset_path, in_data_dir, resolve_dataset
    from annbench.datasets.ood import write_ood_set
    from annbench.datasets.queries import write_query_set
    from annbench.datasets.store import content_hash
    from annbench.errors import UserError
    from annbench.intrinsic.difficulty import measure_name

    path = resolve_dataset(dataset, data_dir, progress=progress)
    if not in_data_dir(path, data_dir):
        raise UserError(f"{path} lies outside the data folder; annbench writes only there")
    parent = ensure_query_measures(path, progress=progress)
    parent_hash = content_hash(parent.base, parent.queries, parent.metric)
    name = path.stem
    n_set = n_set or max(1, len(parent.queries) // 5)
    measure = measure_name(SET_MEASURE)
    names = {"all": name}
    for select in ("easy", "hard"):
        derived = f"{name}-{select}-{measure.replace('_', '')}-{n_set}"
        target = dataset_path(derived, data_dir)
        if not _current(target, parent_hash, {"select": select, "by": measure, "n": n_set}):
            write_query_set(path, name, target, select, measure, n_set, overwrite=True)
        names[select] = derived
    kind = ood_kind or ood_kind_for(parent.source)
    n_ood = len(parent.queries)
    derived = f"{name}-ood-{kind}" + ("" if kind == "words" else f"-{shift:g}".replace(".", "p"))
    target = dataset_path(derived, data_dir)
    wanted = {"kind": kind, "shift": float(shift), "n": n_ood, "seed": seed}
    if not _current(target, parent_hash, wanted):
        write_ood_set(
            path, name, target, kind, shift, n_ood, seed, overwrite=True, progress=progress
        )
    names["ood"] = derived
    return names


def difficulty_experiment(names: dict[str, str], n_base: int, seed: int = 0) -> Experiment:
    """Both indexes on every query set, one build per set, single-threaded, in batch mode
    and single-query mode (whose per-query latencies `annbench compare` tests)."""
    return Experiment(
        datasets=list(names.values()),
        adapters=difficulty_adapters(n_base),
        k=10,
        repeats=3,
        warmup=1,
        seeds=[seed],
        build_threads=[1],
        search_threads=[1],
        modes=["batch", "single"],
        timeout=900,
    )


def reference_points(frame):
    """Each index's reference point (``REFERENCE``) on every query set, batch mode."""
    ok = frame[(frame["status"] == "ok") & (frame["mode"] == "batch")]
    wanted = ok["adapter"].map(REFERENCE)
    return ok[ok["query_params"] == wanted]


def summarise(frame, names: dict[str, str], data_dir: str | os.PathLike, bins: int = 5) -> dict:
    """The study's tables: ``bins`` (recall per LID_100 and RC_10 bin, easiest first, at the
    reference points on all queries; ``ranges``: each bin's measure range), ``sets``
    (recall at the reference point and QPS at recall 0.9 per query set) and ``ood`` (QPS
    at recall 0.9 in and out of distribution)."""
    import pandas as pd

    from annbench.analysis.difficulty import (
        bins_wide,
        difficulty_bins,
        in_vs_out_of_distribution,
        qps_at_recall_by_adapter,
        recall_by_difficulty,
    )
    from annbench.datasets.catalog import dataset_path
    from annbench.datasets.store import load_query_measures
    from annbench.intrinsic.difficulty import difficulty

    measures, _ = load_query_measures(dataset_path(names["all"], data_dir))
    reference = reference_points(frame)
    on_all = reference[reference["dataset"] == names["all"]]
    tables, ranges = [], {}
    for measure in ("lid_100", "rc_10"):
        values = measures[measure]
        binning = difficulty_bins(values, difficulty(values, measure), bins, measure)
        wide = bins_wide(recall_by_difficulty(on_all, {names["all"]: binning}))
        wide.insert(0, "measure", measure)
        ranges[measure] = [f"{low:.3g}-{high:.3g}" for low, high in binning.ranges]
        tables.append(wide[["measure", "adapter", "query_params", "recall", *wide.columns[-bins:]]])
    by_bin = pd.concat(tables, ignore_index=True)
    rows = []
    ok = frame[(frame["status"] == "ok") & (frame["mode"] == "batch")]
    for role, name in names.items():
        qps = qps_at_recall_by_adapter(ok[ok["dataset"] == name], 0.9)
        for _, point in reference[reference["dataset"] == name].iterrows():
            rows.append(
                {
                    "queries": role,
                    "dataset": name,
                    "adapter": point["adapter"],
                    "query_params": point["query_params"],
                    "recall": point["recall"],
                    "qps_at_recall_0.9": qps.get(point["adapter"], float("nan")),
                }
            )
    sets = pd.DataFrame(rows)
    ood = in_vs_out_of_distribution(
        ok[ok["dataset"] == names["all"]], ok[ok["dataset"] == names["ood"]], 0.9
    )
    return {"bins": by_bin, "ranges": ranges, "sets": sets, "ood": ood}
