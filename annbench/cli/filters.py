"""annbench datasets filters: attributes and filter workloads for a dataset."""

from __future__ import annotations

import click

from annbench.cli.base import Context, choice_list, pass_context, selectivity_list, warn
from annbench.cli.datasets import datasets
from annbench.errors import UserError


@datasets.command("filters")
@click.argument("name")
@click.option("--kinds", default="range,label,tags", show_default=True, help="Filter kinds.")
@click.option(
    "--selectivities",
    default="0.5,0.1,0.01,0.001",
    show_default=True,
    help="Target fractions of the base passing (labels also take 'any').",
)
@click.option(
    "--correlations", default="positive,none,negative", show_default=True, help="Correlations."
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@pass_context
def datasets_filters(
    obj: Context, name: str, kinds: str, selectivities: str, correlations: str, seed: int
) -> None:
    """Add attributes (label, tags, value) and filter workloads to dataset NAME, each with its
    exact filtered ground truth, realised selectivity and per-query alpha."""
    from annbench.datasets.attributes import add_filter_workloads
    from annbench.datasets.catalog import in_data_dir, resolve_dataset
    from annbench.datasets.filters import CORRELATIONS, KINDS
    from annbench.datasets.store import load_dataset, write_dataset

    chosen_kinds = choice_list(kinds, KINDS, "filter kind")
    chosen_correlations = choice_list(correlations, CORRELATIONS, "correlation")
    targets = selectivity_list(selectivities)
    path = resolve_dataset(name, obj.data_dir, create=False)
    if not in_data_dir(path, obj.data_dir):
        raise UserError(f"{path} lies outside the data folder; annbench writes only there")
    dataset = load_dataset(path)
    added = add_filter_workloads(
        dataset, chosen_kinds, targets, chosen_correlations, seed=seed, warn=warn
    )
    write_dataset(path, dataset, overwrite=True)
    click.echo(f"{'workload':<28} {'selectivity':>11} {'mean alpha':>11} {'short':>6}")
    for workload_name in added:
        workload = dataset.workloads[workload_name]
        alpha = workload.alpha[workload.alpha > 0]
        short = int((workload.neighbors[:, -1] < 0).sum())
        click.echo(
            f"{workload_name:<28} {workload.selectivity.mean():>11.4f} "
            f"{alpha.mean() if len(alpha) else float('nan'):>11.1f} {short:>6}"
        )
    click.echo(
        f"wrote {len(added)} workloads into {path} (short: queries with fewer than "
        f"{dataset.workloads[added[0]].neighbors.shape[1]} passing vectors)"
    )
