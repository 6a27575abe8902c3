"""memtr's fairseq plugin: ``fairseq-train --user-dir fairseq_plugins --arch mem_transformer_tiny``.

Importing the package registers the models (registration is a side effect of import).
"""

import argparse

import torch

# torch >= 2.6 loads checkpoints with ``weights_only=True``; fairseq's translation
# checkpoints store their options as an ``argparse.Namespace``. Allow exactly that one
# plain-data class rather than turning the protection off for everything.
torch.serialization.add_safe_globals([argparse.Namespace])

from . import models  # noqa: E402,F401  (registers architectures)
