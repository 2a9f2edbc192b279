"""annbench compare: is the difference between two (or more) configurations real?"""

from __future__ import annotations

import math
from pathlib import Path

import click

from annbench.cli.base import Context, cli, echo_json, json_option, note, pass_context
from annbench.errors import UserError
from annbench.errors.names import name_problem

LEGEND = (
    "median a-b: over the queries (latency in ms; a/b: ratio of median latencies); effect: "
    "matched-pairs rank-biserial correlation, -1..1, positive when a is higher; p: Wilcoxon "
    "signed-rank test; Holm p: corrected over the {pairs} pair(s). Latency is compared run "
    "against run, and runs drift: a latency difference counts as significant only beyond "
    "the drift margin (a/b outside 1/{high:g}..{high:g}); see docs/SIGNIFICANCE.md"
)


@cli.command()
@click.argument("names", nargs=-1, metavar="A B [C ...]")
@click.option("--dataset", required=True, help="The dataset the runs were measured on.")
@click.option(
    "--recall",
    type=float,
    required=True,
    help="Each side's fastest single-mode point reaching this recall is compared.",
)
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level.")
@click.option(
    "--latency-margin",
    type=float,
    default=0.25,
    show_default=True,
    help="Run-to-run drift allowed for latency: a ratio of median latencies within "
    "1/(1+M)..1+M is never called significant.",
)
@json_option
@pass_context
def compare(
    obj: Context,
    names: tuple[str, ...],
    dataset: str,
    recall: float,
    alpha: float,
    latency_margin: float,
    as_json: bool,
) -> None:
    """Test whether adapters differ in recall and latency on the same queries.

    Each of A, B, ... is an adapter name, or NAME@RESULTS_DIR to take it from another results
    folder (two versions of one adapter: hnswlib@old-results hnswlib). Every pair is tested
    query by query (Wilcoxon signed-rank; Holm-corrected over the pairs)."""
    from annbench.analysis.significance import compare_at_recall

    if len(names) < 2:
        raise UserError("name two adapters or more to compare (NAME or NAME@RESULTS_DIR)")
    if len(set(names)) < len(names):
        raise UserError(f"each configuration may be named once; got {' '.join(names)}")
    if not 0 < recall <= 1:
        raise UserError(f"--recall {recall:g} is outside (0, 1]")
    if not 0 < alpha < 1:
        raise UserError(f"--alpha {alpha:g} is outside (0, 1)")
    if not (math.isfinite(latency_margin) and latency_margin >= 0):
        raise UserError(f"--latency-margin {latency_margin:g} must be a number >= 0")
    sides = [_side(name, obj.results_dir) for name in names]
    frame, notes = _load_sides(obj, sides, dataset)
    chosen, pairs = compare_at_recall(
        frame, recall, list(names), by="compared", alpha=alpha, latency_margin=latency_margin
    )
    for line in notes:
        note(line)
    if as_json:
        echo_json(_document(dataset, recall, alpha, chosen, pairs, latency_margin))
        return
    _print(dataset, recall, chosen, pairs, alpha, latency_margin)


def _side(text: str, default_dir: Path) -> tuple[str, str, Path]:
    """(label, adapter, results folder) of NAME or NAME@RESULTS_DIR."""
    adapter, at, folder = text.partition("@")
    problem = name_problem(adapter)
    if problem:
        raise UserError(f"adapter name {adapter!r} in {text!r} {problem}; give NAME[@RESULTS_DIR]")
    if at and not folder:
        raise UserError(f"{text!r} names no results folder after '@'; give NAME[@RESULTS_DIR]")
    return text, adapter, Path(folder) if at else default_dir


def _load_sides(obj: Context, sides, dataset: str):
    """One frame of every side's static-workload rows on ``dataset``, with a ``compared``
    column holding the side's label, and the notes of the folders read."""
    import pandas as pd

    from annbench.store.frame import load_frame

    frames, notes = {}, []
    for _, _, folder in sides:
        if folder in frames:
            continue
        if not folder.is_dir():
            raise UserError(f"results folder {folder} does not exist")
        frames[folder] = load_frame(folder, per_query=True, data_dir=obj.data_dir)
        notes += [f"{folder}: {line}" for line in frames[folder].attrs.get("notes", [])]
    if not any((f["dataset"] == dataset).any() for f in frames.values() if not f.empty):
        held = sorted({d for f in frames.values() if not f.empty for d in f["dataset"].unique()})
        folders = ", ".join(str(f) for f in frames)
        raise UserError(
            f"unknown dataset {dataset!r}: no results on it in {folders} (datasets there: "
            f"{', '.join(held) or 'none'})"
        )
    parts = []
    for label, adapter, folder in sides:
        frame = frames[folder]
        rows = frame[
            (frame["dataset"] == dataset)
            & (frame["adapter"] == adapter)
            & frame["workload"].fillna("static").eq("static")
        ]
        if rows.empty:
            hint = "; ".join(frame.attrs.get("notes", []))
            raise UserError(
                f"no results for {adapter} on {dataset} in {folder}"
                + (f" ({hint})" if hint else "; run it there first")
            )
        parts.append(rows.assign(compared=label))
    return pd.concat(parts, ignore_index=True), notes


def _configuration(row) -> str:
    build = row["build_params"] or "defaults"
    return f"build {build}; query {row['query_params'] or 'defaults'}; seed {row['seed']}"


def _print(dataset: str, recall: float, chosen, pairs, alpha: float, margin: float) -> None:
    first = chosen.iloc[0]
    click.echo(
        f"{dataset}: {first['n_queries']} queries, k={first['k']}; each side's fastest "
        f"single-mode point at recall >= {recall:g}"
    )
    width = max(len(name) for name in chosen["name"])
    for _, row in chosen.iterrows():
        click.echo(
            f"  {row['name']:<{width}}  recall {row['recall']:.4f}  QPS {row['qps']:,.0f}  "
            f"({_configuration(row)})"
        )
    for (a, b), rows in pairs.groupby(["a", "b"], sort=False):
        click.echo(f"{a} vs {b}:")
        for _, test in rows.iterrows():
            difference = f"{test['median_difference']:+.4f}"
            if test["measure"] == "latency":
                difference = f"{test['median_difference']:+.3g} ms (a/b {test['median_ratio']:.3f})"
            verdict = "significant" if test["significant"] else "not significant"
            if test["p_holm"] < alpha and not test["beyond_margin"]:
                verdict += ", within the drift margin"
            click.echo(
                f"  {test['measure']:<8} median a-b {difference}  effect "
                f"{test['effect_size']:+.3f}  p {test['p']:.3g}  Holm p {test['p_holm']:.3g}  "
                f"{verdict} ({test['n_nonzero']} of {test['n']} queries differ)"
            )
    click.echo(LEGEND.format(pairs=len(pairs) // 2, high=1 + margin))


def _plain(value):
    """A JSON-ready value: NaN as null, numpy scalars as Python numbers."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def _document(dataset: str, recall: float, alpha: float, chosen, pairs, margin: float) -> dict:
    fields = ["name", "adapter", "label", "build_params", "query_params", "seed"]
    fields += ["insertion_order", "recall", "qps", "latency_p50_ms", "run_id"]
    return {
        "dataset": dataset,
        "recall": recall,
        "alpha": alpha,
        "latency_margin": margin,
        "chosen": [{key: _plain(row[key]) for key in fields} for _, row in chosen.iterrows()],
        "pairs": [
            {key: _plain(value) for key, value in row.items()} for _, row in pairs.iterrows()
        ],
    }
