"""One rank of a real fairseq distributed training run, for tests/integration/test_distributed.py.

fairseq saves checkpoints on rank 0 only; to compare the ranks' parameters, every rank
here writes its own checkpoint into its own --save-dir. Nothing else is changed.
"""

import sys

from fairseq.trainer import Trainer
from fairseq_cli.train import cli_main

Trainer.should_save_checkpoint_on_current_rank = property(lambda self: True)

if __name__ == "__main__":
    sys.argv = ["fairseq-train", *sys.argv[1:]]
    cli_main()
