"""The errors a user may see: each carries a one-line message naming the culprit."""

from __future__ import annotations


class CapacityError(Exception):
    """Base of every error the CLI reports as one line and a non-zero exit."""

    exit_code = 1


class ConfigError(CapacityError):
    """The configuration file is missing, unreadable or invalid."""

    exit_code = 2


class UsageError(CapacityError):
    """A flag or argument is invalid (a bad window, an unknown cluster or dimension)."""

    exit_code = 2


class StoreError(CapacityError):
    """The database cannot be opened, is locked, or refused a write."""

    exit_code = 3


class DatabaseMissing(StoreError):
    """A reader was pointed at a SQLite file that does not exist (it is not created)."""


class CollectionError(CapacityError):
    """A cluster could not be collected; nothing of its snapshot was written."""

    exit_code = 4
