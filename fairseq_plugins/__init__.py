"""memtr's fairseq plugin: ``fairseq-train --user-dir fairseq_plugins --arch mem_transformer_tiny``.

Importing the package registers the models (registration is a side effect of import).
"""

import argparse
import types

import numpy as np
import torch

# torch >= 2.6 loads checkpoints with ``weights_only=True``; fairseq's translation
# checkpoints store their options as an ``argparse.Namespace``. Allow exactly that one
# plain-data class rather than turning the protection off for everything.
torch.serialization.add_safe_globals([argparse.Namespace])

# fairseq 0.12.x still uses ``np.compat.long`` (token_block_dataset.py, used by LM
# generation and ``--sample-break-mode eos``), which numpy 2 removed. Provide that one alias.
if not hasattr(np, "compat"):
    np.compat = types.SimpleNamespace(long=np.int64)

from . import models, tasks  # noqa: E402,F401  (registers architectures and tasks)
