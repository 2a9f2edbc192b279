"""Errors meant for the person at the terminal.

A ``UserError`` carries one line that says what went wrong, where, and how to fix it.
The CLI prints it without a traceback and exits with status 2.
"""


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class NewerFormat(UserError):
    """A file written by a newer annbench: never skipped, since results would go missing."""


class Stopped(BaseException):
    """A signal (SIGTERM) asked annbench to stop. Like KeyboardInterrupt it is no Exception,
    so code that contains adapter failures does not swallow it."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


class AdapterError(Exception):
    """An adapter misbehaved (crashed, returned malformed output, unsupported metric)."""


def refuse_unknown_keys(mapping: dict, allowed: set[str], where: str) -> None:
    """One clear line naming the unknown keys of a spec mapping and the allowed ones."""
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise UserError(
            f"{where}: unknown key {', '.join(map(repr, unknown))}; "
            f"allowed keys: {', '.join(sorted(allowed))}"
        )


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and its message with whitespace folded."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"
