"""Streaming runbook figures: recall, QPS and insert throughput over a runbook's steps, and
the per-step records the result files keep for them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from annbench.analysis.streaming import (
    DEFAULT_TARGET,
    configuration_steps,
    insert_throughput,
    nearest_score,
    runbook_scores,
    step_table,
)
from annbench.errors.names import file_stem
from annbench.views.plots import _pyplot, _save

MAX_TICKS = 12
RECORD_COLUMNS = ["run_id", "step", "kind", "points", "active", "seconds", "rss_bytes"]


def step_records(results_dir: str | os.PathLike, run_ids):
    """The per-step records (``RECORD_COLUMNS``) of the runbook results among ``run_ids``,
    read from their result files under ``results_dir``."""
    import pandas as pd

    from annbench.errors import UserError
    from annbench.store.results import SUFFIX, read_result, result_files

    wanted = {str(run_id) for run_id in run_ids}
    rows = []
    for path in result_files(results_dir):
        if path.name.removesuffix(SUFFIX) not in wanted:
            continue  # a static result, or a failed rerun beside a good one
        try:
            result = read_result(path)
        except UserError:
            continue  # load_frame has said so already
        rows += [{**record, "run_id": result.job.run_id} for record in result.steps]
    return pd.DataFrame(rows).reindex(columns=RECORD_COLUMNS)


def configuration_label(configuration) -> str:
    """'adapter build; query (score s)' for a legend, a table or a caption."""
    params = "; ".join(
        p for p in (configuration["build_params"], configuration["query_params"]) if p
    )
    name = " ".join(p for p in (configuration["adapter"], params) if p)
    return f"{name} (score {configuration['score']:.3f})"


def chart_title(name: str, runbook: str, target: float) -> str:
    return (
        f"{name}, runbook {runbook}: each adapter at its query parameters whose score\n"
        f"(mean recall over the search steps) is nearest {target:g}"
    )


def plot_streaming(
    rows,
    stem: str | Path,
    name: str | None = None,
    *,
    records=None,
    target: float = DEFAULT_TARGET,
) -> list[Path]:
    """For each runbook among one dataset's ``rows`` (``name``: its name, by default the
    dataset's), a figure STEM-RUNBOOK.png/svg: recall and QPS over the search steps, one line
    per adapter at its configuration whose score is nearest ``target``, and, given the rows'
    ``records`` (``step_records``), points inserted per second at each insert step. The x
    ticks give the step and, below it, the points active at it. [] where the rows hold no
    runbook result."""
    import pandas as pd

    steps = step_table(rows)
    chosen = nearest_score(runbook_scores(rows), target)
    if name is None:
        name = ", ".join(sorted(str(d) for d in chosen["dataset"].unique()))
    records = pd.DataFrame(columns=RECORD_COLUMNS) if records is None else records
    throughput = insert_throughput(records)
    stem = Path(stem)
    written = []
    for runbook, configurations in chosen.groupby("runbook", sort=True):
        written += _runbook_figure(
            steps,
            configurations,
            throughput,
            rows,
            stem.with_name(f"{stem.name}-{file_stem(runbook)}"),
            chart_title(name, runbook, target),
        )
    return written


def _runbook_figure(steps, configurations, throughput, rows, stem: Path, title: str):
    plt = _pyplot()
    panels = 3 if not throughput.empty else 2
    fig, axes = plt.subplots(
        panels, 1, figsize=(8, 2.6 * panels + 1), sharex=True, layout="constrained"
    )
    search = None
    for index, (_, configuration) in enumerate(configurations.iterrows()):
        color = f"C{index}"
        own = configuration_steps(steps, configuration)
        search = own if search is None or len(own) > len(search) else search
        label = configuration_label(configuration)
        axes[0].plot(own["step"], own["recall"], "o-", color=color, label=label)
        axes[1].plot(own["step"], own["qps"], "o-", color=color, label=label)
        if panels == 3:
            runs = set(_runs_of(rows, configuration))
            inserts = throughput[throughput["run_id"].isin(runs)]
            inserts = inserts.groupby("step", sort=True)["throughput"].mean()
            axes[2].plot(inserts.index, inserts.to_numpy(), "s--", color=color, label=label)
    axes[0].set_ylabel(f"recall@{int(rows['k'].dropna().iloc[0])}")
    axes[1].set_ylabel("queries per second (log)")
    axes[1].set_yscale("log")
    if panels == 3:
        axes[2].set_ylabel("points inserted / s (log)")
        axes[2].set_yscale("log")
        axes[2].set_title("insert throughput at each insert step", fontsize="small")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    if search is not None:
        shown = search.iloc[:: max(1, int(np.ceil(len(search) / MAX_TICKS)))]
        axes[-1].set_xticks(
            shown["step"].to_list(),
            [f"{step}\n{int(active):,}" for step, active in zip(shown["step"], shown["active"])],
        )
    axes[-1].set_xlabel("runbook step (below: points active at that search step)")
    fig.suptitle(title, fontsize="medium")
    return _save(fig, stem)


def _runs_of(rows, configuration):
    """The run ids behind one configuration (its builds: one per seed, say)."""
    keep = np.ones(len(rows), dtype=bool)
    for key in ("workload", "adapter", "build_params", "query_params"):
        keep &= (rows[key] == configuration[key]).to_numpy()
    return rows.loc[keep, "run_id"].unique()
