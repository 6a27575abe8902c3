"""``--bf16`` on CUDA: undo fairseq 0.12's TPU switch (fairseq issue #4696).

fairseq 0.12's ``options.parse_args_and_arch`` ends with ``if args.bf16: args.tpu = True``
(bf16 was TPU-only when it was written). With ``tpu`` set, the trainer leaves CUDA
(``self.cuda = torch.cuda.is_available() and not cfg.common.cpu and not self.tpu``) and asks
torch_xla for a device, and ``distributed_utils.call_main`` takes the XLA launcher: ``--bf16``
cannot train on a GPU at all. https://github.com/facebookresearch/fairseq/issues/4696

The fix wraps ``parse_args_and_arch`` so that ``--bf16`` no longer implies ``--tpu``: ``tpu``
stays what the command line says. fairseq's command-line tools load the plugin
(``--user-dir``) while they build their parser, before they call ``parse_args_and_arch``
through the module (``options.parse_args_and_arch(...)``), so the wrapped function is the one
that parses. Code that parses in its own process does the same: parser first, then parse (a
plugin first loaded inside ``parse_args_and_arch``, from ``input_args``, comes too late for
that one call). Everything else fairseq does for ``--bf16`` stays: the model is cast to
bfloat16 and trained by its FP16Optimizer with fp32 master weights and no loss scaling.
A TPU user passes ``--tpu`` with ``--bf16``, as fairseq's own help already asks.
"""

from __future__ import annotations

import functools
import sys

from fairseq import options

TPU_FLAG = "--tpu"


def asked_for_tpu(input_args: list[str] | None) -> bool:
    """Whether the command line (``input_args``, else ``sys.argv``) names ``--tpu`` itself
    (fairseq's parsers take no abbreviations)."""
    argv = sys.argv[1:] if input_args is None else input_args
    return TPU_FLAG in argv


def keep_bf16_on_cuda(parse_args_and_arch):
    """``parse_args_and_arch`` whose ``--bf16`` leaves ``tpu`` as the command line set it."""

    @functools.wraps(parse_args_and_arch)
    def parse(parser, input_args=None, parse_known=False, suppress_defaults=False,
              modify_parser=None):  # fmt: skip
        parsed = parse_args_and_arch(parser, input_args, parse_known, suppress_defaults,
                                     modify_parser)  # fmt: skip
        namespace = parsed[0] if parse_known else parsed
        set_by_bf16 = getattr(namespace, "bf16", False) and getattr(namespace, "tpu", False)
        if set_by_bf16 and not asked_for_tpu(input_args):
            namespace.tpu = False
        return parsed

    parse.keeps_bf16_on_cuda = True
    return parse


def install() -> None:
    """Replace ``fairseq.options.parse_args_and_arch`` by the fixed one (once)."""
    if not getattr(options.parse_args_and_arch, "keeps_bf16_on_cuda", False):
        options.parse_args_and_arch = keep_bf16_on_cuda(options.parse_args_and_arch)
