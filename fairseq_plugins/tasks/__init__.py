"""Tasks of the memtr plugin (imported for their registrations)."""

from . import stream_lm  # noqa: F401
