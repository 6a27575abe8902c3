"""Models of the memtr plugin (imported for their registrations)."""

from . import mem_lm, mem_roberta, mem_transformer  # noqa: F401
