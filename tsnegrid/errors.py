"""Errors a user can act on.

Every error a user can cause is a :class:`TsnegridError` whose message is one line that names the
input, says what is wrong and how to fix it. ``generate.py`` prints that line and exits with the
error's ``exit_code``; anything else is an internal error (exit 1, traceback with ``--verbose``).
"""

from __future__ import annotations

import argparse


class TsnegridError(Exception):
    """Base class of the errors a user can fix; ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class UsageError(TsnegridError):
    """A flag or config value is invalid (exit code 2)."""

    exit_code = 2


class InputError(TsnegridError):
    """An input (dataset, image folder, file) cannot be used (exit code 3)."""

    exit_code = 3


class OutputError(TsnegridError):
    """The output folder cannot be written (exit code 4)."""

    exit_code = 4


class UsageParser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of exiting, so that every usage error
    gets one clear line (and its exit code) from the command's own handler."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")
