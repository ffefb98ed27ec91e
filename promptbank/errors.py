"""The exception hierarchy shared by every dpseg package.

Every error a user can cause derives from `DpsegError`; the CLI prints its message as one line and
exits with the error's `exit_code`: 2 when the user's own input is refused (`InputRefused`: a
vocabulary, template file, config, checkpoint or device), 1 when an operation failed (a damaged or
busy bank). Messages say what was expected, what arrived, and how to fix it.
"""


class DpsegError(Exception):
    """Base of all user-facing dpseg errors."""

    exit_code = 1  # what `dpseg` exits with (2 for errors the command line itself can fix)


class InputRefused(DpsegError):
    """Input the user gave (a file, a name, a setting) that dpseg refuses; the CLI exits 2."""

    exit_code = 2


class WeightsNotFoundError(DpsegError):
    """Model weights are not on disk (no hub downloads are attempted)."""


class RecipeWeightsMissingError(WeightsNotFoundError):
    """A bank recipe names models whose weights are absent: found before any work; the fix is a
    download, a folder, or tiny settings on the command line (a usage error: exit 2)."""

    exit_code = 2


class UnknownModelError(DpsegError):
    """A model name that is neither known, nor a local path, nor a cached hub id."""


class DeviceError(InputRefused):
    """A --device that does not exist on this machine."""


class VocabularyError(InputRefused):
    """A vocabulary or template file that cannot be used."""


class BankError(DpsegError):
    """A bank that is missing, damaged, or does not fit the request."""


class SettingError(BankError, InputRefused):
    """A build setting (count, size, seed, process layout) out of range."""
