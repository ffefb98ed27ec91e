"""The exception hierarchy shared by every dpseg package.

Every error a user can cause derives from `DpsegError`; the CLI prints its message as one line and
exits 1. Messages say what was expected, what arrived, and how to fix it.
"""


class DpsegError(Exception):
    """Base of all user-facing dpseg errors."""


class WeightsNotFoundError(DpsegError):
    """Model weights are not on disk (no hub downloads are attempted)."""


class UnknownModelError(DpsegError):
    """A model name that is neither known, nor a local path, nor a cached hub id."""


class VocabularyError(DpsegError):
    """A vocabulary or template file that cannot be used."""


class BankError(DpsegError):
    """A bank that is missing, damaged, or does not fit the request."""
