"""Errors meant for the person at the terminal.

A ``UserError`` carries one line that says what went wrong, where, and how to fix it.
The CLI prints it without a traceback and exits with status 2.
"""


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class AdapterError(Exception):
    """An adapter misbehaved (crashed, returned malformed output, unsupported metric)."""
