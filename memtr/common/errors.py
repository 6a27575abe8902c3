"""The errors a stage reports in one line (``error: ...``) instead of a traceback."""


class ConfigError(ValueError):
    """Invalid parameters or arguments (reported in one line, exit status 2)."""


class DataError(RuntimeError):
    """A data stage failed; the message names the file concerned."""
