"""The command line of the current run, as the user typed it (recorded in manifests)."""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Sequence

_COMMAND_LINE: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "cathodescope_command_line", default=None
)


def set_command_line(argv: Sequence[str]) -> contextvars.Token:
    """Record ``argv`` (without the program name) as the command line of this run.

    Parameters
    ----------
    argv : sequence of str
        The arguments after ``cathodescope``.

    Returns
    -------
    contextvars.Token
        Token to restore the previous value with ``_COMMAND_LINE.reset``.
    """
    return _COMMAND_LINE.set(("cathodescope", *map(str, argv)))


def command_line() -> list[str]:
    """The command line of this run: the one the CLI recorded, else ``sys.argv``.

    Returns
    -------
    list of str
        Program name and arguments.
    """
    recorded = _COMMAND_LINE.get()
    return list(recorded) if recorded is not None else list(sys.argv)


def reset_command_line(token: contextvars.Token) -> None:
    """Restore the command line recorded before :func:`set_command_line`.

    Parameters
    ----------
    token : contextvars.Token
        What :func:`set_command_line` returned.
    """
    _COMMAND_LINE.reset(token)
