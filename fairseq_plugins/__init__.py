"""memtr's fairseq plugin: ``fairseq-train --user-dir fairseq_plugins --arch mem_transformer_tiny``.

Importing the package registers the models and the task (registration is a side effect of
import). Three folders; ``models`` imports from ``modules``, nothing else crosses folders:

* ``tasks/``: the ``stream_lm`` task (rows of a batch continue the rows of the previous batch).
* ``models/``: the registered models and architectures (``mem_transformer``, ``mem_ctrl``, ...,
  ``mem_transformer_lm``, ``mem_roberta``).
* ``modules/``: the layers they are built from (memory tokens, encoder, LM decoder), registered
  nowhere.

Beside them, ``bf16.py`` makes fairseq's ``--bf16`` train on CUDA (fairseq 0.12 turns it into
``--tpu``; issue #4696).

The plugin never imports ``memtr``; names shared with the pipeline come from ``memspec``.
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

from . import bf16, models, tasks  # noqa: E402,F401  (registers architectures and tasks)

# fairseq 0.12's --bf16 also sets --tpu, which keeps training off CUDA (fairseq #4696).
bf16.install()
