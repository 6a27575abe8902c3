"""fairseq architecture registration shared by the plugin's models.

An architecture name is a prefix (one per model family or encoder layout, see ``memspec``)
plus a size suffix; its function fills in the memory defaults and that size's defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fairseq.models import register_model_architecture


def register_architectures(
    model: str,
    prefix: str,
    sizes: dict[str, Callable[[Any], None]],
    memory_defaults: Callable[[Any], None],
    sizes_first: bool = False,
) -> None:
    """Register ``prefix + suffix`` for each model size of ``sizes`` (suffix -> fairseq's
    architecture function): each fills in ``memory_defaults`` and the size's defaults only."""
    for suffix, size_fn in sizes.items():
        name = prefix + suffix

        def architecture(args: Any, size_fn: Callable[[Any], None] = size_fn) -> None:
            steps = (size_fn, memory_defaults) if sizes_first else (memory_defaults, size_fn)
            for step in steps:
                step(args)

        architecture.__name__ = name
        architecture.__doc__ = f"{name}: {prefix} with the sizes of fairseq's {size_fn.__name__}."
        register_model_architecture(model, name)(architecture)
