"""Errors a user of `segmodel` can cause. Each message names the thing, the expectation and the fix."""

from promptbank.errors import DpsegError, InputRefused


class SegmodelError(DpsegError):
    """Base of the segmentation model's user-facing errors."""


class ConfigError(SegmodelError, InputRefused):
    """A model setting that is unknown or out of range."""


class EncoderMismatchError(SegmodelError):
    """Prompts (a bank) made with another encoder than the model's frozen prompt encoder."""


class PromptError(SegmodelError):
    """Prompts that do not fit the model (template count, widths, missing classes)."""


class InputError(SegmodelError):
    """Images or labels of the wrong shape, type or range."""


class CheckpointError(SegmodelError, InputRefused):
    """A model checkpoint that is missing, damaged, or not a dpseg checkpoint."""
