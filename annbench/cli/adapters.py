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
    with its library version, whether it can run here (and why not), metrics, grids and where
    it comes from."""
    from annbench.adapters.availability import availabilities
    from annbench.adapters.registry import discover

    found = discover()
    reasons = availabilities(found.values())
    rows = [
        {
            "name": s.name,
            "source": s.source,
            "library": s.library,
            "version": s.library_version(),
            "available": not reasons[s.name],
            "reason": reasons[s.name],
            "environment": s.environment,
            "metrics": list(s.metrics),
            "exact": s.exact,
            "repeatable": s.repeatable,
            "build": s.build_grid,
            "query": s.query_grid,
            "folder": str(s.folder),
        }
        for s in found.values()
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        status = "ok" if row["available"] else f"skipped: {row['reason']}"
        click.echo(
            f"{row['name']:<22} {row['source']:<10.40} {row['library'] or '-':<16} "
            f"{row['version']:<12} {status}"
        )
        if row["available"]:
            click.echo(f"{'':<22} build {row['build']} query {row['query']}")


@adapters.command("env")
@click.argument("names", nargs=-1)
@click.option("--rebuild", is_flag=True, help="Build it again even if it is built.")
def adapters_env(names: tuple[str, ...], rebuild: bool) -> None:
    """Build the virtual environment of each adapter NAME whose spec names one (no NAME: all
    of them), from the requirements file beside its spec. Needs the package index; a run
    never builds one."""
    from annbench.adapters.envs import build_env, env_dir
    from annbench.adapters.registry import discover, get_adapter

    specs = [get_adapter(name) for name in names] or [
        spec for spec in discover().values() if spec.environment
    ]
    done = set()
    for spec in specs:
        if spec.environment and env_dir(spec) in done:  # shared with an adapter just built
            click.echo(f"{spec.name}: environment ready at {env_dir(spec)}")
            continue
        build_env(spec, rebuild=rebuild, echo=click.echo)
        done.add(env_dir(spec))


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
