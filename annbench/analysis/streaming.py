"""Streaming runbooks, summarised: pure functions of the results frame and of the per-step
records a runbook result stores.

The score is big-ann-benchmarks' streaming score: a configuration's recall averaged over the
runbook's search steps, each step's recall against the exact neighbours among the points
active then. Mean QPS over the same steps goes with it.
"""

from __future__ import annotations

import numpy as np

RUNBOOK_PREFIX = "runbook:"
# one configuration: one index build and one query setting, driven through one runbook
CONFIGURATION = [
    "dataset",
    "workload",
    "dataset_hash",  # two runbooks of one name but other content stay apart
    "adapter",
    "build_params",
    "query_params",
    "mode",
    "search_threads",
]
DEFAULT_TARGET = 0.9


def is_runbook(frame):
    """Boolean Series: which rows belong to a runbook workload."""
    return frame["workload"].fillna("").astype(str).str.startswith(RUNBOOK_PREFIX)


def runbook_points(frame, *, ingesting: bool = False):
    """The ok search-step rows of runbook workloads, with ``runbook`` (the workload's name
    without its prefix). A step measured while ingesting (concurrent clients) is a second
    measurement of that step: left out of the steps and scores, kept with ``ingesting``."""
    rows = frame[is_runbook(frame) & frame["status"].eq("ok") & frame["step"].notna()]
    if "ingest_rate" in rows.columns:
        rows = rows[rows["ingest_rate"].notna() == ingesting]
    elif ingesting:
        rows = rows.iloc[0:0]
    return rows.assign(runbook=rows["workload"].str.slice(len(RUNBOOK_PREFIX)))


INGESTION_KEYS = ["run_id", "step", "query_params"]
INGESTION_COLUMNS = [
    "dataset", "runbook", "adapter", "build_params", "query_params", "step", "clients",
    "ingest_rate", "ingested", "qps_quiet", "qps_ingesting", "p99_ms_quiet",
    "p99_ms_ingesting", "recall_quiet", "recall_ingesting",
]  # fmt: skip


def ingestion_table(frame):
    """Each search step measured while ingesting beside the same step, configuration and
    clients without ingestion: QPS, p99 latency (ms) and recall of both (``INGESTION_COLUMNS``;
    empty without such steps)."""
    import pandas as pd

    busy = runbook_points(frame, ingesting=True)
    if busy.empty:
        return pd.DataFrame(columns=INGESTION_COLUMNS)
    quiet = runbook_points(frame)
    measures = {"qps": "qps", "latency_p99_ms": "p99_ms", "recall": "recall"}
    pairs = busy.merge(
        quiet[[*INGESTION_KEYS, *measures]], on=INGESTION_KEYS, suffixes=("", "_quiet")
    )
    for column, name in measures.items():
        pairs[f"{name}_ingesting"] = pairs[column]
        pairs[f"{name}_quiet"] = pairs[f"{column}_quiet"]
    pairs["step"] = pairs["step"].astype(int)
    pairs["clients"] = pairs["clients"].astype(int)
    return pairs[INGESTION_COLUMNS].sort_values(["dataset", "runbook", "adapter", "step"])


def step_table(frame):
    """One row per (configuration, search step): ``runbook``, ``step``, ``active``,
    ``recall`` and ``qps`` (each the mean over the runs of the configuration, seeds for
    instance, at that step) and ``runs``. Select a configuration's rows for its table."""
    import pandas as pd

    points = runbook_points(frame)
    keys = [*CONFIGURATION, "runbook", "step"]
    if points.empty:
        return pd.DataFrame(columns=[*keys, "active", "recall", "qps", "runs"])
    table = (
        points.groupby(keys, sort=True, dropna=False)
        .agg(
            active=("active", "first"),
            recall=("recall", "mean"),
            qps=("qps", "mean"),
            runs=("run_id", "nunique"),
        )
        .reset_index()
    )
    table["step"] = table["step"].astype(int)
    return table


def runbook_scores(frame):
    """One row per configuration: ``score`` (mean recall over the runbook's search steps),
    ``recall_min`` (its worst step), ``qps`` (mean QPS over the steps), ``steps`` and
    ``runs``; sorted by dataset, runbook and best score first."""
    import pandas as pd

    steps = step_table(frame)
    keys = [*CONFIGURATION, "runbook"]
    if steps.empty:
        return pd.DataFrame(columns=[*keys, "score", "recall_min", "qps", "steps", "runs"])
    scores = (
        steps.groupby(keys, sort=True, dropna=False)
        .agg(
            score=("recall", "mean"),
            recall_min=("recall", "min"),
            qps=("qps", "mean"),
            steps=("step", "nunique"),
            runs=("runs", "max"),
        )
        .reset_index()
    )
    return scores.sort_values(
        ["dataset", "runbook", "score", "qps"], ascending=[True, True, False, False], kind="stable"
    ).reset_index(drop=True)


def nearest_score(scores, target: float = DEFAULT_TARGET):
    """Each (dataset, runbook, adapter)'s configuration whose score is nearest ``target``
    (a tie: the faster one)."""
    if scores.empty:
        return scores
    ranked = scores.assign(_gap=(scores["score"] - target).abs()).sort_values(
        ["_gap", "qps"], ascending=[True, False], kind="stable"
    )
    chosen = ranked.drop_duplicates(["dataset", "runbook", "adapter"]).drop(columns="_gap")
    return chosen.sort_values(["dataset", "runbook", "adapter"], kind="stable")


def configuration_steps(steps, configuration):
    """The rows of ``steps`` (a ``step_table``) of one configuration (a mapping or a row
    holding the ``CONFIGURATION`` keys), in step order."""
    keep = np.ones(len(steps), dtype=bool)
    for key in CONFIGURATION:
        value = configuration[key]
        column = steps[key]
        keep &= column.isna().to_numpy() if _missing(value) else (column == value).to_numpy()
    return steps[keep].sort_values("step", kind="stable")


def insert_throughput(records):
    """Insert throughput per insert step, from a runbook's step records (a DataFrame with
    ``run_id``, ``step``, ``kind``, ``points``, ``seconds``, ``active``): one row per
    (run_id, step) with ``points``, ``seconds`` and ``throughput`` (points inserted per
    second; NaN where the step took no measurable time)."""
    import pandas as pd

    columns = ["run_id", "step", "points", "seconds", "active", "throughput"]
    if records.empty:
        return pd.DataFrame(columns=columns)
    inserts = records[records["kind"].eq("insert")]
    table = (
        inserts.groupby(["run_id", "step"], sort=True)
        .agg(points=("points", "sum"), seconds=("seconds", "sum"), active=("active", "last"))
        .reset_index()
    )
    seconds = table["seconds"].astype(float)
    table["throughput"] = np.where(
        seconds > 0, table["points"] / seconds.where(seconds > 0), np.nan
    )
    return table[columns]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
