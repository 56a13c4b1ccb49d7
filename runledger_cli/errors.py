"""What the ``runledger`` command can end with: its exit statuses and the error for a
command line the user can fix. A leaf: it imports nothing of runledger, so every command
and ``cli`` import it without a cycle (httpie keeps ``ExitStatus`` apart the same way)."""

from __future__ import annotations

import enum

__all__ = ["ExitStatus", "UsageError"]


class ExitStatus(enum.IntEnum):
    """The ``runledger`` command's exit statuses."""

    OK = 0
    #: A run FAILED or did not finish, or an AWS call failed.
    FAILED = 1
    #: The command line or its input is wrong (argparse's own status for usage errors).
    USAGE = 2
    #: Ctrl-C (128 + SIGINT).
    INTERRUPTED = 130


class UsageError(Exception):
    """A mistake in the command line the user can fix; shown as argparse shows its own."""
