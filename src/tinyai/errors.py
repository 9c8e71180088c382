"""Errors a user can act on.

Every message is one line that names the problem and the fix, so the CLI can print it
without a traceback and a script can show it to a person as is.
"""


class TinyAIError(Exception):
    """Base class: a problem with the user's input, files or environment, not a bug."""


class DataError(TinyAIError):
    """A dataset file is missing, damaged or not in the expected format."""


class ConfigError(TinyAIError):
    """A config or recipe is invalid: unknown key, wrong type, unsupported version."""


class ModelError(TinyAIError):
    """A model directory or checkpoint cannot be loaded."""


class ArtifactError(TinyAIError):
    """An exported artifact is missing files, tampered with, or does not match its manifest."""


class Interrupted(TinyAIError):
    """Ctrl-C: the work stopped cleanly; the message says what was kept and how to go on.
    The CLI prints it as is and exits with status 130."""
