"""annbench images: building and listing container images."""

from __future__ import annotations

from pathlib import Path

import click

from annbench.cli.base import cli, echo_json, json_option
from annbench.errors import UserError


@cli.group()
def images() -> None:
    """Container images: a base with the worker, and one image per adapter."""


@images.command("build")
@click.argument("names", nargs=-1)
@click.option(
    "--base-image",
    default="python:3.11-slim",
    show_default=True,
    help="Image the base starts from (any Debian-like image; python3 is added if missing).",
)
@click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Extra CA bundle for pip inside the build (networks behind a TLS proxy).",
)
@click.option("--rebuild-base", is_flag=True, help="Rebuild the base even if it exists.")
def images_build(
    names: tuple[str, ...], base_image: str, ca_bundle: Path | None, rebuild_base: bool
) -> None:
    """Build the base image (when missing) and the images of NAMES (default: every adapter
    with a Dockerfile)."""
    import docker
    from annbench.adapters.registry import discover
    from annbench.run.executors.images import BASE_TAG, build_adapter, build_base, client

    registry = discover()
    unknown = sorted(set(names) - set(registry))
    if unknown:
        raise UserError(
            f"unknown adapter {', '.join(unknown)}; known: {', '.join(sorted(registry))}"
        )
    chosen = (
        [registry[n] for n in names]
        if names
        else [spec for spec in registry.values() if (spec.folder / "Dockerfile").exists()]
    )
    engine = client()
    try:
        engine.images.get(BASE_TAG)
        have_base = True
    except docker.errors.ImageNotFound:
        have_base = False
    if rebuild_base or not have_base or not names:
        build_base(base_image, ca_bundle, echo=click.echo)
    for spec in chosen:
        build_adapter(spec, ca_bundle, echo=click.echo)


@images.command("list")
@json_option
def images_list(as_json: bool) -> None:
    """annbench's images with their id, size and the library versions inside."""
    from annbench.run.executors.images import list_images

    rows = list_images()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no annbench images; build them with `annbench images build`")
    for row in rows:
        versions = ", ".join(f"{k} {v}" for k, v in sorted(row["versions"].items()))
        click.echo(f"{row['tag']:<32} {row['id']:<20} {row['size_mb']:>6} MB  {versions}")
