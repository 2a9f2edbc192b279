"""Concurrent clients: pure functions of the results frame's clients rows.

A clients row is one (configuration, level) of a clients job: ``clients`` concurrent clients
each issuing single queries for the job's duration. Its ``qps`` is the queries completed /
wall time from the common start to the last client's end, its latency percentiles are pooled
over the clients, and ``ceiling_qps`` is the harness's own no-op ceiling at that level,
measured in the same job; ``harness_bound`` says its QPS is above half that ceiling (the
harness, not the index, may be what limits it).

A configuration is (dataset, adapter, build parameters, query parameters, client mode, k).
Each adapter is drawn at its configuration whose recall (mean over its rows) is nearest a
target recall, the way ``annbench.analysis.difficulty.nearest_recall_points`` chooses (a tie:
the faster configuration, by mean QPS over its levels). Several runs of one configuration
(seeds) at one level are averaged.
"""

from __future__ import annotations

import numpy as np

from annbench.analysis.difficulty import TARGET_RECALL, nearest_recall_points
from annbench.analysis.streaming import is_runbook

DEFAULT_P99_BOUND_MS = 20.0
QPS_DEFINITION = (
    "completed queries / wall time from the common start to the last client's end; "
    "latencies pooled over clients"
)
CONFIG_KEYS = ["dataset", "adapter", "build_params", "query_params", "client_mode", "k"]
LEVEL_COLUMNS = [
    *CONFIG_KEYS,
    "clients",
    "chosen",
    "recall",
    "qps",
    "latency_p50_ms",
    "latency_p99_ms",
    "coverage",
    "ceiling_qps",
    "harness_bound",
    "runs",
]
AT_BOUND_COLUMNS = [
    "dataset",
    "adapter",
    "qps",
    "clients",
    "build_params",
    "query_params",
    "recall",
    "latency_p99_ms",
    "harness_bound",
]


def is_clients(frame):
    """Per row: whether it is a concurrent-clients point of the plain query sweep (a
    runbook's search steps by clients belong to its streaming views)."""
    return frame["mode"].eq("clients") & frame["clients"].notna() & ~is_runbook(frame)


def clients_points(frame):
    """The ok clients rows, ``clients`` as an int and ``harness_bound`` as a bool."""
    rows = frame[is_clients(frame) & frame["status"].eq("ok")]
    return rows.assign(
        clients=rows["clients"].astype(int), harness_bound=rows["harness_bound"].eq(True)
    )


def configurations(frame):
    """One row per configuration among the ok clients rows: its keys, ``recall`` and
    ``qps`` (means over its rows), ``levels`` and ``status`` ("ok")."""
    rows = clients_points(frame)
    grouped = rows.groupby(CONFIG_KEYS, sort=True, dropna=False)
    table = grouped.agg(
        recall=("recall", "mean"), qps=("qps", "mean"), levels=("clients", "nunique")
    )
    return table.reset_index().assign(status="ok")


def nearest_configurations(frame, target: float = TARGET_RECALL):
    """Each (dataset, adapter)'s configuration whose recall is nearest ``target`` (a tie:
    the faster one), one row each."""
    chosen = nearest_recall_points(configurations(frame), target)
    return chosen.drop(columns="status").reset_index(drop=True)


def level_table(frame, target: float = TARGET_RECALL):
    """One row per (configuration, clients level), tidy (``LEVEL_COLUMNS``): the runs at it
    averaged (``runs``: how many), ``ceiling_qps`` the highest of their ceilings,
    ``harness_bound`` whether any was, ``coverage`` the least; ``chosen`` marks each
    adapter's configuration nearest ``target``."""
    import pandas as pd

    rows = clients_points(frame)
    if rows.empty:
        return pd.DataFrame(columns=LEVEL_COLUMNS)
    grouped = rows.groupby([*CONFIG_KEYS, "clients"], sort=True, dropna=False)
    table = grouped.agg(
        recall=("recall", "mean"),
        qps=("qps", "mean"),
        latency_p50_ms=("latency_p50_ms", "mean"),
        latency_p99_ms=("latency_p99_ms", "mean"),
        coverage=("coverage", "min"),
        ceiling_qps=("ceiling_qps", "max"),
        harness_bound=("harness_bound", "any"),
        runs=("run_id", "nunique"),
    ).reset_index()
    chosen = nearest_configurations(rows, target)[CONFIG_KEYS].assign(chosen=True)
    table = table.merge(chosen, on=CONFIG_KEYS, how="left")
    table["chosen"] = table["chosen"].eq(True)
    return table[LEVEL_COLUMNS]


def chosen_levels(frame, target: float = TARGET_RECALL):
    """The ``level_table`` rows of each adapter's configuration nearest ``target``."""
    table = level_table(frame, target)
    return table[table["chosen"]].reset_index(drop=True)


def ceiling_by_level(frame):
    """The harness's no-op ceiling per (dataset, client mode, clients level): the highest
    measured by any job there (columns dataset, client_mode, clients, ceiling_qps)."""
    rows = clients_points(frame)
    keys = ["dataset", "client_mode", "clients"]
    return rows.groupby(keys, sort=True)["ceiling_qps"].max().reset_index()


def qps_at_p99(frame, bound_ms: float):
    """Per (dataset, adapter) with clients rows: the highest QPS among its rows (any
    configuration and level, whatever its recall) whose p99 latency is at most ``bound_ms``,
    with the level, configuration, recall, p99 and harness-bound flag of that row
    (``AT_BOUND_COLUMNS``); qps NaN and the rest empty where no row meets the bound."""
    import pandas as pd

    rows = clients_points(frame)
    answers = []
    for (dataset, adapter), own in rows.groupby(["dataset", "adapter"], sort=True):
        within = own[own["latency_p99_ms"] <= bound_ms]
        if within.empty:
            answers.append({"dataset": dataset, "adapter": adapter, "qps": np.nan})
            continue
        best = within.loc[within["qps"].idxmax()]
        answers.append({key: best[key] for key in AT_BOUND_COLUMNS})
    return pd.DataFrame(answers, columns=AT_BOUND_COLUMNS)
