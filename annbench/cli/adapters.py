"""annbench adapters: listing adapters and writing new ones."""

from __future__ import annotations

from pathlib import Path

import click

from annbench.cli.base import cli, echo_json, json_option


@cli.group()
def adapters() -> None:
    """The adapters annbench can run, and making new ones."""


@adapters.command("list")
@json_option
def adapters_list(as_json: bool) -> None:
    """Every adapter found (built in, on ANNBENCH_ALGORITHMS_PATH, or installed as a plugin),
    with its library version, metrics, grids and where it comes from."""
    from annbench.adapters.registry import discover

    rows = [
        {
            "name": s.name,
            "source": s.source,
            "library": s.library,
            "version": s.library_version(),
            "metrics": list(s.metrics),
            "exact": s.exact,
            "repeatable": s.repeatable,
            "build": s.build_grid,
            "query": s.query_grid,
            "folder": str(s.folder),
        }
        for s in discover().values()
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['name']:<16} {row['source']:<10.40} {row['library'] or '-':<14} "
            f"{row['version']:<10} build {row['build']} query {row['query']}"
        )


@adapters.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default="algorithms",
    show_default=True,
    help="Folder to create it in.",
)
def adapters_new(name: str, parent: Path) -> None:
    """Write a working adapter folder (module, spec, Dockerfile, conformance test) to edit."""
    from annbench.adapters.scaffold import new_adapter

    folder = new_adapter(name, parent)
    click.echo(f"wrote {folder}: edit adapter.py and spec.yml, then `pytest {folder}`")
