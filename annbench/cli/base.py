"""The click group every command hangs from, its shared context and small parsers."""

from __future__ import annotations

import math
from pathlib import Path

import click

from annbench.errors import UserError


class Context:
    def __init__(self, data_dir: Path, results_dir: Path) -> None:
        self.data_dir = data_dir
        self.results_dir = results_dir


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="datasets",
    envvar="ANNBENCH_DATA_DIR",
    show_default=True,
    help="Where dataset files live.",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="results",
    envvar="ANNBENCH_RESULTS_DIR",
    show_default=True,
    help="Where result files live.",
)
@click.version_option(package_name="annbench")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path, results_dir: Path) -> None:
    """Benchmark approximate nearest-neighbour search."""
    ctx.obj = Context(data_dir, results_dir)


def int_list(text: str, minimum: int = 1) -> list[int]:
    """A comma-separated list of integers, each at least ``minimum``, at least one."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < minimum:
        raise UserError(f"{text!r} must list integers >= {minimum}")
    return values


def fraction(text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UserError(f"{text!r} is not a fraction or a percentage (0.1 or 10%)") from None
    if not 0 <= value <= 1:
        raise UserError(f"{text!r} must lie between 0 and 100%")
    return value


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
include_stale_option = click.option(
    "--include-stale",
    is_flag=True,
    help="Also show results whose dataset's content has changed since they were measured.",
)


def warn(message: str) -> None:
    click.echo(f"annbench: warning: {message}", err=True)


def note(message: str) -> None:
    click.echo(f"annbench: note: {message}", err=True)


def load_results(obj: Context, *, include_stale: bool = False, per_query: bool = False):
    """The results frame of the context's folders, its notes (stale results left out, files
    skipped) printed on stderr."""
    from annbench.store.frame import load_frame

    frame = load_frame(
        obj.results_dir,
        data_dir=obj.data_dir,
        include_stale=include_stale,
        per_query=per_query,
    )
    for line in frame.attrs.get("notes", []):
        note(line)
    return frame


def echo_json(rows) -> None:
    import json

    click.echo(json.dumps(rows, indent=2, default=str))


def selectivity_list(text: str) -> list[float | None]:
    values: list[float | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "any":
            values.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            raise UserError(f"selectivity {part!r} is not a number (or 'any')") from None
        if not 0 < value <= 1:
            raise UserError(f"selectivity {part!r} is outside (0, 1]")
        values.append(value)
    if not values:
        raise UserError("--selectivities lists no value")
    return values


def choice_list(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    values = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise UserError(
            f"{what} {', '.join(unknown) or '(none)'}: choose from {', '.join(allowed)}"
        )
    return values


def positive_number(unit: str):
    """An option callback: a finite number > 0 of ``unit``, else one line (click's FloatRange
    lets NaN through, since NaN compares false with every bound)."""

    def check(_ctx, param, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            name = "--" + param.name.replace("_", "-")
            raise UserError(f"{name} must be a positive number of {unit}, got {value:g}")
        return value

    return check
