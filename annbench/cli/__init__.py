"""The command line: each command parses its options, calls one library function, prints.

Errors meant for the user (UserError, click usage errors) are printed as one line on stderr
with exit status 2 and no traceback. Commands live in one module per group; importing them
registers them on the ``cli`` group.
"""

from __future__ import annotations

import click

from annbench.cli import adapters, datasets, gate, images, runs, studies  # noqa: F401
from annbench.cli.base import cli
from annbench.errors import UserError

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line and exit status 2."""
    try:
        status = cli.main(args=argv, prog_name="annbench", standalone_mode=False)
    except UserError as exc:
        click.echo(f"annbench: error: {exc}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("annbench: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"annbench: error: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("annbench: interrupted; finished jobs are stored, rerun to resume", err=True)
        return 130
    return status if isinstance(status, int) else 0  # an Exit(code) comes back as its code
