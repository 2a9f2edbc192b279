"""The command line: each command parses its options, calls one library function, prints.

Errors meant for the user (UserError, click usage errors, OS errors met writing a file) are
printed as one line on stderr with exit status 2 and no traceback. SIGTERM and SIGINT stop a
sweep cleanly: the running job's process tree is killed, finished results stay stored, and one
line says how to resume. Commands live in one module per group; importing them registers them
on the ``cli`` group.
"""

from __future__ import annotations

import signal
import threading

import click

from annbench.cli import (  # noqa: F401
    adapters,
    compare,
    datasets,
    describe,
    filters,
    gate,
    images,
    plots,
    quality,
    runs,
    service_studies,
    studies,
    views,
)
from annbench.cli.base import cli
from annbench.errors import Stopped, UserError

__all__ = ["cli", "main"]

RESUME = "finished jobs are stored; rerun the same command to resume"


def _stop(number: int, _frame) -> None:
    raise Stopped(number)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line and exit status 2."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main_thread else None
    try:
        status = cli.main(args=argv, prog_name="annbench", standalone_mode=False)
    except UserError as exc:
        click.echo(f"annbench: error: {exc}", err=True)
        return 2
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help())  # a group called without a command: its help
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo(f"annbench: interrupted; {RESUME}", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"annbench: error: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo(f"annbench: interrupted; {RESUME}", err=True)
        return 130
    except Stopped as stop:
        click.echo(f"annbench: stopped by {signal.Signals(stop.number).name}; {RESUME}", err=True)
        return 128 + stop.number
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return status if isinstance(status, int) else 0  # an Exit(code) comes back as its code
