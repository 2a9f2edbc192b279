"""The streaming study: graph, inverted-file and database indexes on two runbooks over the
same points and the same window: a sliding window of randomly drawn chunks, and clustered
arrival (labels arriving a group at a time, the oldest group expiring). Does arrival by
cluster cost recall over time, the way label-grouped insertion costs it at build time?"""

from __future__ import annotations

import math

from annbench.run.plan import Experiment
from annbench.studies.common import installed

STEPS = 10
WINDOW = 4
# the point of each method the table's headline column reports
REFERENCE = {
    "hnswlib": "ef=40",
    "usearch": "expansion_search=40",
    "faiss-ivf": "nprobe=8",
    "pgvector": "ef_search=40",
}


def streaming_adapters(n_base: int) -> list[dict]:
    """The study's methods at fixed build parameters (single-threaded builds), each with a
    short query sweep; libraries not installed here are left out."""
    nlist = max(1, int(round(math.sqrt(n_base / STEPS * WINDOW))))
    methods = [
        {"name": "hnswlib", "build": {"M": [16], "ef_construction": [128]},
         "query": {"ef": [10, 40, 160]}},
        {"name": "usearch", "build": {"connectivity": [16], "expansion_add": [128]},
         "query": {"expansion_search": [10, 40, 160]}},
        {"name": "faiss-ivf", "build": {"nlist": [nlist]}, "query": {"nprobe": [2, 8, 32]}},
        {"name": "pgvector", "build": {"m": [16], "ef_construction": [64]},
         "query": {"ef_search": [10, 40, 160]}},
    ]  # fmt: skip
    return installed(methods)


def streaming_runbooks(
    n_base: int, labels, steps: int = STEPS, window: int = WINDOW, seed: int = 0
) -> list[dict]:
    """Both runbooks (every point arrives once, ``window`` steps' worth stay active), and for
    each a control: the same final active set built at once in random order and searched
    with the same queries (so the same ground truth), which isolates what the history of
    arrivals and expiries did to the index."""
    from annbench.run.runbook_generators import _chunks, clustered_arrival, sliding_window

    n_labels = len(set(int(v) for v in labels))
    per_step = max(1, n_labels // steps)
    sliding = sliding_window(n_base, steps, window, seed)
    clustered = clustered_arrival(labels, window, per_step, seed)
    start = _chunks(n_base, steps)[-window][0]
    final_groups = [
        step["replace"]["insert"]["labels"] if "replace" in step else step["insert"]["labels"]
        for step in clustered["steps"]
        if "search" not in step
    ][-window:]
    final_labels = [label for group in final_groups for label in group]
    rebuilt = [
        {
            "name": f"{sliding['name']}-rebuilt",
            "seed": seed,
            "steps": [{"insert": {"random": [start, n_base]}}, {"search": {}}],
        },
        {
            "name": f"{clustered['name']}-rebuilt",
            "seed": seed,
            "steps": [{"insert": {"labels": final_labels, "order": "random"}}, {"search": {}}],
        },
    ]
    return [sliding, clustered, *rebuilt]


def streaming_experiment(
    dataset: str, n_base: int, labels, seed: int = 0, adapters=None
) -> Experiment:
    methods = streaming_adapters(n_base)
    if adapters is not None:
        methods = [m for m in methods if m["name"] in adapters]
    return Experiment(
        datasets=[dataset],
        adapters=methods,
        runbooks=streaming_runbooks(n_base, labels, seed=seed),
        k=10,
        repeats=1,
        warmup=0,
        seeds=[seed],
        build_threads=[1],
        search_threads=[1],
        timeout=1800,
    )


def score_table(frame):
    """Per method, query parameter and runbook: the score (mean recall over the search
    steps, big-ann-benchmarks' definition; ``annbench.analysis.streaming``), the first and
    last step's recall, the mean QPS, and whether it is the method's reference point."""
    from annbench.analysis.streaming import configuration_steps, runbook_scores, step_table

    scores = runbook_scores(frame)
    steps = step_table(frame)
    first, last = [], []
    for _, row in scores.iterrows():
        recalls = configuration_steps(steps, row)["recall"]
        first.append(recalls.iloc[0])
        last.append(recalls.iloc[-1])
    table = scores.assign(first_step=first, last_step=last)
    table["reference"] = table["adapter"].map(REFERENCE) == table["query_params"]
    columns = ["adapter", "query_params", "runbook", "score", "first_step", "last_step", "qps"]
    return table[[*columns, "reference"]].sort_values(["runbook", "adapter", "query_params"])


def history_table(scores):
    """Per method and query parameter: each streamed runbook's last-step recall beside the
    recall of the same final active set built at once in random order (its ``-rebuilt``
    control), and their difference: what the history of arrivals and expiries cost."""
    import pandas as pd

    rows = []
    streamed = scores[~scores["runbook"].str.endswith("-rebuilt")]
    for _, row in streamed.iterrows():
        control = scores[
            (scores["adapter"] == row["adapter"])
            & (scores["query_params"] == row["query_params"])
            & (scores["runbook"] == f"{row['runbook']}-rebuilt")
        ]
        rebuilt = control["last_step"].iloc[0] if len(control) else float("nan")
        rows.append(
            {
                "adapter": row["adapter"],
                "query_params": row["query_params"],
                "runbook": row["runbook"],
                "last_step": row["last_step"],
                "rebuilt": rebuilt,
                "history_pp": 100 * (row["last_step"] - rebuilt),
            }
        )
    return pd.DataFrame(rows)
