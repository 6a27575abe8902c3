"""Attention over memory: extraction, numbers, plots and the stage CLI (workflow/scripts)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_cli
from model_helpers import build_model
from test_cli import TRAIN_ARGS

from memtr import attention, attention_plots
from memtr.prepare import train_spm

pytestmark = pytest.mark.slow

SCRIPT = REPO / "workflow" / "scripts" / "attention.py"
TABLE_SCRIPT = REPO / "workflow" / "scripts" / "attention_table.py"
# (name, arch, memory tokens, updates): one tiny model per layout the CLI tests need.
MODELS = {
    "prepend": ("mem_transformer_tiny", 6, 60),
    "bottleneck": ("mem_bottleneck_tiny", 4, 60),
    "nomem": ("mem_transformer_tiny", 0, 1),
}
NUM_SENTENCES = 3
MIN_PIXEL_STD = 0.05  # grey levels in [0, 1]: a blank or one-colour PNG is far below


def train_tiny(data: Path, save: Path, arch: str, mem: int, updates: int) -> Path:
    run_cli(
        "train", str(data), "--arch", arch, "--mem-tokens", str(mem),
        "--max-update", str(updates), "--save-dir", str(save), *TRAIN_ARGS,
        "--warmup-updates", "30", "--disable-validation", "--no-save-optimizer-state",
    )  # fmt: skip
    return save / "checkpoint_last.pt"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def stage(reverse_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Train the tiny models once; run the stage CLI on each into one output root."""
    root = tmp_path_factory.mktemp("attention")
    data, sentences = reverse_corpus / "bin", reverse_corpus / "raw" / "test.src"
    procs = {}
    for name, (arch, mem, updates) in MODELS.items():
        checkpoint = train_tiny(data, root / f"ckpt_{name}", arch, mem, updates)
        procs[name] = run_script(
            "--checkpoint", str(checkpoint), "--data", str(data), "--sentences", str(sentences),
            "--num-sentences", str(NUM_SENTENCES), "--name", name, "--out", str(root / "out"),
        )  # fmt: skip
    return {"out": root / "out", "procs": procs}


def load(stage: dict, name: str) -> tuple[attention.ModelInfo, list, pd.DataFrame]:
    assert stage["procs"][name].returncode == 0, stage["procs"][name].stderr[-3000:]
    folder = stage["out"] / name
    info, samples = attention.load_npz(folder / "attention.npz")
    return info, samples, pd.read_csv(folder / "memory_mass.csv")


@pytest.mark.parametrize("name", ["prepend", "bottleneck"])
def test_saved_rows_sum_to_one_over_their_keys(stage, name):
    info, samples, _ = load(stage, name)
    assert info.num_memory == MODELS[name][1] and len(samples) == NUM_SENTENCES
    for s in samples:
        t = info.num_memory + len(s.src_tokens)
        assert s.encoder.shape == (2, 4, t, t)  # (L, H, m + n, m + n)
        assert s.cross.shape[:3] == (2, 4, len(s.tgt_tokens))  # (Ld, H, t, k)
        np.testing.assert_allclose(s.encoder.sum(-1), 1.0, atol=1e-5)
        np.testing.assert_allclose(s.cross.sum(-1), 1.0, atol=1e-5)
        assert (s.encoder >= 0).all() and (s.cross >= 0).all()


@pytest.mark.parametrize("name", ["prepend", "bottleneck"])
def test_memory_mass_is_the_sum_of_its_block(stage, name):
    info, samples, table = load(stage, name)
    m = info.num_memory
    assert list(table.columns) == list(attention.COLUMNS)
    assert table["layer"].tolist() == [1, 2] and (table["model"] == name).all()
    seq_to_mem = np.mean([s.encoder[:, :, m:, :m].sum(-1).mean(axis=(1, 2)) for s in samples], 0)
    mem_to_mem = np.mean([s.encoder[:, :, :m, :m].sum(-1).mean(axis=(1, 2)) for s in samples], 0)
    dec_to_mem = np.mean([s.cross[..., s.key_is_memory].sum(-1).mean((1, 2)) for s in samples], 0)
    np.testing.assert_allclose(table["seq_to_memory"], seq_to_mem, atol=1e-5)
    np.testing.assert_allclose(table["memory_to_memory"], mem_to_mem, atol=1e-5)
    np.testing.assert_allclose(table["decoder_to_memory"], dec_to_mem, atol=1e-5)
    np.testing.assert_allclose(table["seq_to_memory"] + table["seq_to_seq"], 1.0, atol=1e-5)
    entropy = table["memory_entropy_norm"]
    assert ((entropy > 0) & (entropy <= 1)).all()
    doc = json.loads((stage["out"] / name / "memory_mass.json").read_text())
    assert doc["status"] == "ok" and doc["num_memory"] == m and len(doc["layers"]) == 2
    assert doc["layers"][0]["seq_to_memory"] == pytest.approx(table["seq_to_memory"][0])


def test_bottleneck_sequence_block_is_empty_and_all_mass_is_on_memory(stage):
    _, samples, table = load(stage, "bottleneck")
    for s in samples:
        assert not s.encoder[:, :, 4:, 4:].any()
        assert s.key_is_memory.all() and len(s.key_is_memory) == 4  # the decoder sees memory
    np.testing.assert_allclose(table["seq_to_seq"], 0.0)
    np.testing.assert_allclose(table["seq_to_memory"], 1.0, atol=1e-5)
    np.testing.assert_allclose(table["decoder_to_memory"], 1.0, atol=1e-5)


def expected_sizes(info: attention.ModelInfo, sample: attention.SampleAttention) -> dict:
    t = info.num_memory + len(sample.src_tokens)
    k, out = sample.cross.shape[-1], len(sample.tgt_tokens)
    grid = attention_plots.grid_figsize
    sizes = {"summary.png": attention_plots.SUMMARY_SIZE}
    for layer in (1, 2):
        sizes[f"encoder_layer{layer}.png"] = grid(t, t, 4)  # (H, T, T) maps, 4 heads
        sizes[f"cross_layer{layer}.png"] = grid(out, k, 4)  # (H, t, k) maps
    return sizes


@pytest.mark.parametrize("name", ["prepend", "bottleneck"])
def test_pngs_exist_with_the_expected_size_and_are_not_blank(stage, name):
    info, samples, _ = load(stage, name)
    sample = samples[attention_plots.pick_sample(samples)]
    for file, figsize in expected_sizes(info, sample).items():
        image = mpimg.imread(stage["out"] / name / file)  # (height, width, RGBA) in [0, 1]
        width, height = attention_plots.figure_pixels(figsize)
        assert image.shape[:2] == (height, width), file
        assert image.shape[0] >= 300 and image.shape[1] >= 400, file
        assert image[..., :3].mean(-1).std() > MIN_PIXEL_STD, f"{file} looks blank"


def test_cli_prints_a_short_table(stage):
    proc = stage["procs"]["prepend"]
    assert "prepend: attention of 3 sentences written to" in proc.stdout
    assert "seq_to_memory" in proc.stdout and "decoder_to_memory" in proc.stdout
    assert len(proc.stdout.strip().splitlines()) == 4  # message, header, two layers


def test_without_memory_the_stage_says_so_and_exits_0(stage):
    proc = stage["procs"]["nomem"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "no memory to plot: nomem has 0 memory tokens"
    folder = stage["out"] / "nomem"
    doc = json.loads((folder / "memory_mass.json").read_text())
    assert doc["status"] == "no_memory" and doc["num_memory"] == 0 and doc["layers"] == []
    assert pd.read_csv(folder / "memory_mass.csv").empty
    assert not list(folder.glob("*.png")) and not (folder / "attention.npz").exists()


def test_comparison_table_merges_models(stage, tmp_path):
    spec = importlib.util.spec_from_file_location("attention_table", TABLE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tables = [stage["out"] / n / "memory_mass.csv" for n in MODELS]
    out = tmp_path / "memory_mass.csv"
    assert module.main(["--out", str(out), *map(str, tables)]) == 0
    merged = pd.read_csv(out)
    assert merged["model"].tolist() == ["prepend", "prepend", "bottleneck", "bottleneck"]
    markdown = out.with_suffix(".md").read_text().splitlines()
    assert markdown[0].startswith("| model | layout | num_memory | layer |")
    assert len(markdown) == 2 + 4 and "| bottleneck | bottleneck | 4 | 2 |" in markdown[-1]


@pytest.mark.parametrize(
    ("arch", "extra", "memory_keys"),
    [
        ("mem_transformer_tiny", (), "all"),
        ("mem_transformer_tiny", ("--mem-hide-from-decoder",), "none"),
        ("mem_ctrl_tiny", (), "all"),
        ("mem_ctrl_shared_tiny", (), "all"),
        ("mem_bottleneck_tiny", (), "only"),
    ],
)
def test_every_layout_gives_normalised_maps(reverse_corpus, arch, extra, memory_keys):
    model, task = build_model(reverse_corpus / "bin", "--arch", arch, "--mem-tokens", "3", *extra)
    model.eval()
    info = attention.model_info(model, arch)
    samples = attention.extract(model, task, ["w1 w2 w3 w4", "w5 w6"])
    table = attention.memory_mass_table(samples, info)
    for s in samples:
        n = len(s.src_tokens)
        assert s.encoder.shape == (2, 4, 3 + n, 3 + n)
        np.testing.assert_allclose(s.encoder.sum(-1), 1.0, atol=1e-5)
        np.testing.assert_allclose(s.cross.sum(-1), 1.0, atol=1e-5)
        expected = {"all": [True] * 3 + [False] * n, "none": [False] * n, "only": [True] * 3}
        assert s.key_is_memory.tolist() == expected[memory_keys]
    share = {"all": None, "none": 0.0, "only": 1.0}[memory_keys]
    if share is not None:
        np.testing.assert_allclose(table["decoder_to_memory"], share, atol=1e-6)
    assert model.encoder.recorded_attention is None  # recording is switched off again


def test_sentences_are_read_raw_with_spm_or_pretokenized(reverse_corpus, tmp_path):
    raw = reverse_corpus / "raw" / "train.src"
    sp = train_spm([raw], tmp_path / "spm", vocab_size=20)
    lines = attention.read_sentences(raw, 2, tmp_path / "spm.model")
    first = raw.read_text().splitlines()[0]
    assert lines[0] == " ".join(sp.encode(first, out_type=str)) and len(lines) == 2
    assert attention.read_sentences(raw, 2) == raw.read_text().splitlines()[:2]
