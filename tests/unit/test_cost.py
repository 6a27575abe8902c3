"""The cost predictor (workflow/scripts/cost.py, benchmarks/cost.py): its FLOP counts against
torch's own FLOP counter on the real fairseq models, and its report for every paper preset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lm_helpers import build_lm, build_roberta
from model_helpers import build_model
from pipeline_helpers import REPO
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula, sdpa_flop_count

from benchmarks.cost import DEFAULT_MFU, card_peak, gpu_hours, report, run_costs
from benchmarks.flops import Dims, classifier_forward, forward_flops, lm_forward
from memtr.config.params import load_params

VOCAB = 96  # with fairseq's 4 specials
PRESETS = ("paper_wmt14_base", "paper_wikitext103_lm", "paper_glue", "cpu_replication",
           "cpu_replication_lm")  # fmt: skip


@register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
def _cpu_sdpa_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """torch counts its GPU attention kernels but not the CPU one the plugin's memory
    layers run (F.scaled_dot_product_attention): the same products."""
    return sdpa_flop_count(query, key, value)


def counted_flops(model: torch.nn.Module, *inputs) -> int:
    """Matmul FLOPs of one forward, as torch counts them. fairseq's attention runs as explicit
    products (``onnx_trace``: no fused kernel, which the counter would miss on CPU)."""
    for module in model.modules():
        if hasattr(module, "onnx_trace"):
            module.onnx_trace = True
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*inputs)
    return counter.get_total_flops()


@pytest.fixture(scope="module")
def dictionaries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dictionaries fairseq's tasks read to build a model (no data needed for that)."""
    root = tmp_path_factory.mktemp("dicts")
    words = "".join(f"w{i} 1\n" for i in range(VOCAB - 4))
    for name in ("dict.txt", "dict.de.txt", "dict.en.txt", "input0/dict.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(words)
    (root / "label").mkdir()
    (root / "label/dict.txt").write_text("0 1\n1 1\n")
    return root


SIDE = ["--embed-dim", "32", "--ffn-embed-dim", "64", "--layers", "2", "--attention-heads", "4"]
ARCHS = {"none": "transformer", "prepend": "mem_transformer", "ctrl": "mem_ctrl",
         "ctrl_shared": "mem_ctrl_shared", "bottleneck": "mem_bottleneck"}  # fmt: skip


@pytest.mark.parametrize("layout", ARCHS)
def test_translation_flops_are_what_torch_counts(dictionaries, layout):
    m = 0 if layout == "none" else 4
    sizes = [f"--{side}-{opt[2:]}" if i % 2 == 0 else opt for side in ("encoder", "decoder")
             for i, opt in enumerate(SIDE)]  # fmt: skip
    memory = ["--mem-tokens", str(m)] if m else []
    model, _ = build_model(dictionaries, "--arch", ARCHS[layout], *sizes, *memory,
                           "--source-lang", "de", "--target-lang", "en")  # fmt: skip
    src, prev = torch.randint(4, VOCAB, (3, 7)), torch.randint(4, VOCAB, (3, 6))
    got = counted_flops(model, src, torch.full((3,), 7), prev)
    assert got == 3 * forward_flops(Dims(32, 64, 2, 2, VOCAB), layout, 7, 6, m)


@pytest.mark.parametrize("m", [0, 5])
def test_lm_flops_are_what_torch_counts(dictionaries, m):
    sizes = ["--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64", "--decoder-layers", "2",
             "--decoder-attention-heads", "4", "--decoder-input-dim", "32", "--decoder-output-dim", "32"]  # fmt: skip
    arch = (
        ["--arch", "mem_transformer_lm", "--mem-tokens", str(m)]
        if m
        else ["--arch", "transformer_lm"]
    )
    model, _ = build_lm(dictionaries, *arch, *sizes)
    got = counted_flops(model, torch.randint(4, VOCAB, (3, 10)))
    assert got == 3 * lm_forward(32, 64, 2, 10, m, VOCAB)


@pytest.mark.parametrize("m", [0, 6])
def test_classifier_flops_are_what_torch_counts(dictionaries, m):
    model, _ = build_roberta(dictionaries, "--arch", "mem_roberta_tiny", "--mem-tokens", str(m))
    d, ffn, layers = (
        getattr(model.args, k)
        for k in ("encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_layers")
    )
    got = counted_flops(model.encoder.sentence_encoder, torch.randint(4, VOCAB, (2, 9)))
    assert got == 2 * classifier_forward(d, ffn, layers, 9, m)


# --------------------------------------------------------------------------------------------
# The report


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_has_a_cost_per_run_and_a_total(preset, tmp_path):
    params = load_params(REPO / f"workflow/presets/{preset}.yaml")
    sections = (params.spec, params.data, params.model, params.variants, params.experiment,
                params.pretrain, params.train)  # fmt: skip
    costs = run_costs(*sections, tmp_path)  # no binarized data: the documented assumptions
    assert len(costs) == len(params.experiment.variants) * len(params.experiment.seeds)
    by_variant = {c.variant: c for c in costs}
    reference = by_variant[params.experiment.reference]
    for c in costs:
        assert c.updates == params.train.budget(params.variants[c.variant])
        if c.mem_tokens and c.layout in ("prepend", "ctrl", "ctrl_shared"):
            assert c.flops_per_update > reference.flops_per_update  # memory rows cost
    text = report(*sections, "H100", None, tmp_path)
    total = sum(c.flops for c in costs)
    assert f"**{gpu_hours(total, card_peak('H100'), DEFAULT_MFU):,.2f}**" in text
    assert "40% MFU (assumed: no GPU check has measured it)" in text
    assert text.count("\n| ") == len(costs) + 2  # header, rows, total


def test_gpu_hours_follow_the_card_and_the_mfu():
    assert card_peak("NVIDIA H100 80GB HBM3") == card_peak("H100") == 989e12
    assert card_peak("NVIDIA H100 PCIe") == 756e12
    assert gpu_hours(989e12 * 3600, 989e12, 0.5) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown card 'Z80'"):
        card_peak("Z80")


def test_the_cli_prints_the_table_and_refuses_bad_options():
    script = str(REPO / "workflow/scripts/cost.py")
    ok = subprocess.run([sys.executable, script, "cpu_replication", "--card", "A100", "--mfu", "0.3"],
                        capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "on one A100 (312 TFLOP/s bf16 dense) at 30% MFU (given)" in ok.stdout
    for args, message in ((["paper_wmt99"], "error: unknown preset 'paper_wmt99'; presets: "),
                          (["demo", "--card", "Z80"], "error: unknown card 'Z80'"),
                          (["demo", "--mfu", "1.5"], "error: --mfu must be in (0, 1], got 1.5")):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, script, *args], capture_output=True, text=True, cwd=REPO
        )
        assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
