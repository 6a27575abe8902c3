"""bf16, proven on a CPU as far as a CPU can: the GPU command the pipeline builds selects CUDA
and not fairseq's TPU path, and every memory layout trains and decodes in bfloat16 with its
masks intact (no NaN, the fp32 outputs within bf16's tolerance).

fairseq 0.12 turns ``--bf16`` into ``--tpu`` (issue #4696); the plugin undoes it
(``fairseq_plugins/bf16.py``). The parsed configuration and fairseq's own Trainer are
checked, not the command line's text.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
import torch
from fairseq import options, tasks
from fairseq.data import Dictionary
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.trainer import Trainer
from lm_helpers import ROBERTA_HEAD, memory_lm, memory_roberta, random_tokens
from model_helpers import SMALL, build_model, sample_batch
from pipeline_helpers import run_train_command, synthetic_params

from memtr.config.params import parse_params

# max |log p| difference in bf16, against fp32 and between incremental and full decoding: the
# GPU check's bf16 tolerance (measured here: at most 0.035)
TOLERANCE = 5e-2
ENCODERS = {  # every encoder layout of the translation models: architecture and options
    "prepend": ("mem_transformer",),
    "prepend, hidden from the decoder": ("mem_transformer", "--mem-hide-from-decoder"),
    "ctrl": ("mem_ctrl",),
    "ctrl_shared": ("mem_ctrl_shared",),
    "bottleneck": ("mem_bottleneck",),
}
LMS = {"memory LM": (), "recurrent memory LM": ("--mem-recurrent", "--mem-segment-len", "4")}
# bf16 as torch.autocast runs it, and as fairseq's --bf16 does (the model cast to bfloat16)
MODES = ("autocast", "weights")


@pytest.fixture(scope="module")
def data(reverse_corpus: Path) -> Path:
    return reverse_corpus / "bin"


@pytest.fixture(scope="module")
def lm_data(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reversal task's dictionary as a language model's ``dict.txt``."""
    root = tmp_path_factory.mktemp("lm_dict")
    (root / "dict.txt").write_text((data / "dict.src.txt").read_text())
    return root


@pytest.fixture(scope="module")
def glue_dicts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``input0/`` and ``label/`` dictionaries, as sentence_prediction reads them."""
    root = tmp_path_factory.mktemp("glue_dicts")
    for column, symbols in (("input0", [f"w{i}" for i in range(20)]), ("label", ["0", "1"])):
        vocab = Dictionary()
        for symbol in symbols:
            vocab.add_symbol(symbol)
        (root / column).mkdir()
        vocab.save(str(root / column / "dict.txt"))
    return root


def in_bf16(model: torch.nn.Module, mode: str):
    """(model, context) that run ``model`` in bfloat16 the ``mode`` way."""
    if mode == "autocast":
        return model, torch.autocast("cpu", dtype=torch.bfloat16)
    return model.to(torch.bfloat16), contextlib.nullcontext()


def check_train_step(model, run, mode: str) -> None:
    """``run(model)`` -> log-probabilities: in bf16 they are finite and within TOLERANCE of
    fp32's, and a backward pass leaves finite gradients, the memory's not all zero."""
    model.eval()  # no dropout: the two passes compare
    with torch.no_grad():
        reference = run(model).float()
    model, context = in_bf16(model, mode)
    with context:
        log_probs = run(model).float()
    assert torch.isfinite(log_probs).all()
    assert (log_probs - reference).abs().max().item() <= TOLERANCE
    log_probs.mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert all(torch.isfinite(g).all() for g in grads.values())
    memory = [g for n, g in grads.items() if n.endswith("memory.vectors")]
    assert memory and all(g.abs().sum() > 0 for g in memory)


def check_incremental(full, steps) -> None:
    """Step-by-step decoding in bf16 autocast equals the full pass within TOLERANCE."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        whole, stepped = full().float(), torch.cat(steps(), dim=1).float()
    assert torch.isfinite(stepped).all()
    assert (whole - stepped).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ENCODERS)
def test_translation_train_step_in_bf16(data, name, mode):
    model, task = build_model(data, "--arch", *ENCODERS[name][:1], *SMALL, "--mem-tokens", "3",
                              *ENCODERS[name][1:])  # fmt: skip
    batch = sample_batch(task, [6, 2, 4])  # left-padded: the padding masks are in use
    check_train_step(model, lambda m: m(**batch)[0].log_softmax(-1), mode)


@pytest.mark.parametrize("name", ENCODERS)
def test_translation_incremental_decoding_in_bf16(data, name):
    model, task = build_model(data, "--arch", *ENCODERS[name][:1], *SMALL, "--mem-tokens", "3",
                              *ENCODERS[name][1:])  # fmt: skip
    model.eval()
    batch = sample_batch(task, [6, 2, 4])
    prev = batch["prev_output_tokens"]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        enc = model.encoder(batch["src_tokens"], batch["src_lengths"])
    state: dict = {}

    def steps():
        return [model.decoder(prev[:, : t + 1], encoder_out=enc, incremental_state=state)[0]
                .log_softmax(-1) for t in range(prev.size(1))]  # fmt: skip

    check_incremental(lambda: model.decoder(prev, encoder_out=enc)[0].log_softmax(-1), steps)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", LMS)
def test_memory_lm_train_step_in_bf16(lm_data, name, mode):
    model, task = memory_lm(lm_data, 3, *LMS[name])
    tokens = random_tokens(task, 2, 11)
    check_train_step(model, lambda m: m.get_normalized_probs(m(tokens), log_probs=True), mode)


@pytest.mark.parametrize("name", LMS)
def test_memory_lm_incremental_decoding_in_bf16(lm_data, name):
    model, task = memory_lm(lm_data, 3, *LMS[name])
    model.eval()
    tokens = random_tokens(task, 2, 11)
    state: dict = {}

    def log_probs(out):
        return model.get_normalized_probs(out, log_probs=True)

    def steps():
        return [log_probs(model.decoder(tokens[:, : t + 1], incremental_state=state))
                for t in range(tokens.size(1))]  # fmt: skip

    check_incremental(lambda: log_probs(model(tokens)), steps)


@pytest.mark.parametrize("mode", MODES)
def test_memory_roberta_train_step_in_bf16(glue_dicts, mode):
    model, task = memory_roberta(glue_dicts, 3)
    vocab = task.source_dictionary
    tokens = torch.full((2, 9), vocab.pad())
    tokens[0, :9] = torch.randint(vocab.nspecial, len(vocab) - 1, (9,))
    tokens[1, :5] = torch.randint(vocab.nspecial, len(vocab) - 1, (5,))  # right-padded
    tokens[:, 0], tokens[0, 8], tokens[1, 4] = vocab.bos(), vocab.eos(), vocab.eos()

    def run(m):
        return m(tokens, classification_head_name=ROBERTA_HEAD)[0].log_softmax(-1)

    check_train_step(model, run, mode)


# ---- fairseq's parser and trainer, given the pipeline's GPU command ---------------------------


def parse_as_fairseq_train(command: list[str], monkeypatch):
    """``fairseq_cli.train.cli_main``'s own steps on ``command`` (its parser reads sys.argv:
    the plugin is loaded from ``--user-dir`` before the options are parsed)."""
    monkeypatch.setattr(sys, "argv", ["fairseq-train", *command[3:]])  # after python -m X
    parser = options.get_training_parser()  # first, as cli_main: it loads the plugin
    return options.parse_args_and_arch(parser)


def trainer_of(cfg) -> Trainer:
    """fairseq's Trainer set up as ``fairseq_cli.train.main`` sets it up."""
    task = tasks.setup_task(cfg.task)
    model, criterion = task.build_model(cfg.model), task.build_criterion(cfg.criterion)
    return Trainer(cfg, task, model, criterion)


def test_the_pipelines_bf16_command_selects_cuda_not_the_tpu(data, tmp_path, monkeypatch):
    with monkeypatch.context() as gpu:  # the command as a machine with a bf16 card builds it
        gpu.setattr(torch.cuda, "is_available", lambda: True)
        gpu.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
        params = parse_params(synthetic_params(precision="bf16"))
        command = run_train_command(params, "mem4", 1, data, tmp_path / "save")
    assert command[1:3] == ["-m", "fairseq_cli.train"]
    cfg = convert_namespace_to_omegaconf(parse_as_fairseq_train(command, monkeypatch))
    assert (cfg.common.bf16, cfg.common.tpu, cfg.common.cpu) == (True, False, False)
    trainer = trainer_of(cfg)
    # self.cuda = torch.cuda.is_available() and not cfg.common.cpu and not self.tpu
    assert trainer.tpu is False and trainer.cuda == torch.cuda.is_available()
    assert trainer.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert next(trainer.model.parameters()).dtype == torch.bfloat16  # fairseq's bf16 path
    assert trainer.get_lr() is not None  # its optimizer (FP16Optimizer, no loss scaling) builds
    assert trainer.optimizer.scaler is None

    # fairseq's own parsing without the plugin's fix: TPU, and a trainer that asks torch_xla
    # (not installed: fairseq.utils holds None for it) for its device
    upstream = options.parse_args_and_arch.__wrapped__(options.get_training_parser(), command[3:])
    assert upstream.tpu is True
    with pytest.raises(AttributeError, match="xla_device"):
        trainer_of(convert_namespace_to_omegaconf(upstream))


def test_an_explicit_tpu_flag_is_kept(data):
    def tpu(*argv: str) -> bool:
        parser = options.get_training_parser()
        return options.parse_args_and_arch(
            parser, [str(data), "--arch", "transformer_tiny", *argv]
        ).tpu

    assert tpu("--bf16", "--tpu") is True
    assert tpu("--bf16") is False
    assert tpu() is False
