"""Attention over memory: extraction, numbers, plots and the stage CLI (workflow/scripts)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import NO_PREFETCH, REPO, TINY_MODELS, in_parallel, run_cli
from lm_helpers import LM_SMALL, memory_lm, write_recall_corpus
from model_helpers import build_model

from memtr.attention import plots as attention_plots
from memtr.attention.archive import load_npz
from memtr.attention.loading import encode_lm_line, model_info
from memtr.attention.measures import memory_mass_table
from memtr.attention.recording import extract, extract_lm_sample
from memtr.attention.schema import COLUMNS, ModelInfo, SampleAttention
from memtr.attention.sentences import read_sentences, sentence_source
from memtr.attention.tables import write_comparison
from memtr.common.paths import PLUGIN_DIR
from memtr.data.prepare import train_spm

pytestmark = pytest.mark.slow

SCRIPT = REPO / "workflow" / "scripts" / "attention.py"
TABLE_SCRIPT = REPO / "workflow" / "scripts" / "attention_table.py"
# The session's tiny translation models (conftest.TINY_MODELS) the stage CLI tests run on.
MODELS = ["prepend", "bottleneck", "nomem"]
MEM = {name: TINY_MODELS[name][1] for name in MODELS}  # memory tokens: 6, 10 and 0
NUM_SENTENCES = 3
MIN_PIXEL_STD = 0.05  # grey levels in [0, 1]: a blank or one-colour PNG is far below


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def stage(reverse_corpus: Path, tiny_models, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run the stage CLI on each of the session's tiny models (trained once, conftest) into
    one output root, side by side."""
    out = tmp_path_factory.mktemp("attention") / "out"
    data, sentences = reverse_corpus / "bin", reverse_corpus / "raw" / "test.src"
    models = tiny_models(*MODELS)

    def run(name: str) -> subprocess.CompletedProcess:
        return run_script(
            "--checkpoint", str(models[name].checkpoint), "--data", str(data),
            "--sentences", str(sentences), "--num-sentences", str(NUM_SENTENCES),
            "--name", name, "--out", str(out),
        )  # fmt: skip

    return {"out": out, "procs": dict(zip(MODELS, in_parallel(run, MODELS), strict=True))}


def load(stage: dict, name: str) -> tuple[ModelInfo, list, pd.DataFrame]:
    assert stage["procs"][name].returncode == 0, stage["procs"][name].stderr[-3000:]
    folder = stage["out"] / name
    info, samples = load_npz(folder / "attention.npz")
    return info, samples, pd.read_csv(folder / "memory_mass.csv")


@pytest.mark.parametrize("name", ["prepend", "bottleneck"])
def test_saved_rows_sum_to_one_over_their_keys(stage, name):
    info, samples, _ = load(stage, name)
    assert info.num_memory == MEM[name] and len(samples) == NUM_SENTENCES
    for s in samples:
        t = info.num_memory + len(s.src_tokens)
        assert s.self_attn.shape == (2, 4, t, t)  # (L, H, m + n, m + n)
        assert s.cross.shape[:3] == (2, 4, len(s.tgt_tokens))  # (Ld, H, t, k)
        np.testing.assert_allclose(s.self_attn.sum(-1), 1.0, atol=1e-5)
        np.testing.assert_allclose(s.cross.sum(-1), 1.0, atol=1e-5)
        assert (s.self_attn >= 0).all() and (s.cross >= 0).all()


@pytest.mark.parametrize("name", ["prepend", "bottleneck"])
def test_memory_mass_is_the_sum_of_its_block(stage, name):
    info, samples, table = load(stage, name)
    m = info.num_memory
    assert list(table.columns) == list(COLUMNS)
    assert table["layer"].tolist() == [1, 2] and (table["model"] == name).all()
    seq_to_mem = np.mean([s.self_attn[:, :, m:, :m].sum(-1).mean(axis=(1, 2)) for s in samples], 0)
    mem_to_mem = np.mean([s.self_attn[:, :, :m, :m].sum(-1).mean(axis=(1, 2)) for s in samples], 0)
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
    m = MEM["bottleneck"]
    for s in samples:
        assert not s.self_attn[:, :, m:, m:].any()
        assert s.key_is_memory.all() and len(s.key_is_memory) == m  # the decoder sees memory
    np.testing.assert_allclose(table["seq_to_seq"], 0.0)
    np.testing.assert_allclose(table["seq_to_memory"], 1.0, atol=1e-5)
    np.testing.assert_allclose(table["decoder_to_memory"], 1.0, atol=1e-5)


def expected_sizes(info: ModelInfo, sample: SampleAttention) -> dict:
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


def test_comparison_table_merges_models(stage, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TABLE_SCRIPT.parent))  # as `python <script>` has it
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
    assert len(markdown) == 2 + 4
    assert f"| bottleneck | bottleneck | {MEM['bottleneck']} | 2 |" in markdown[-1]


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
    info = model_info(model, arch)
    samples = extract(model, task, ["w1 w2 w3 w4", "w5 w6"])
    table = memory_mass_table(samples, info)
    for s in samples:
        n = len(s.src_tokens)
        assert s.self_attn.shape == (2, 4, 3 + n, 3 + n)
        np.testing.assert_allclose(s.self_attn.sum(-1), 1.0, atol=1e-5)
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
    lines = read_sentences(raw, 2, tmp_path / "spm.model")
    first = raw.read_text().splitlines()[0]
    assert lines[0] == " ".join(sp.encode(first, out_type=str)) and len(lines) == 2
    assert read_sentences(raw, 2) == raw.read_text().splitlines()[:2]


# ---- language models: mem_transformer_lm ---------------------------------------------------

LM_TRAIN = [
    "--user-dir", str(PLUGIN_DIR), *LM_SMALL, "--task", "stream_lm", "--tokens-per-sample", "16",
    "--batch-size", "8", "--optimizer", "adam", "--lr", "0.003", "--dropout", "0.0",
    "--disable-validation", "--no-save-optimizer-state", "--no-epoch-checkpoints",
    "--num-workers", "0", "--seed", "1", "--cpu", *NO_PREFETCH,
]  # fmt: skip
# name -> (architecture options, updates, sequence tokens of a sample: </s> + 7, or cut at 6)
LM_MODELS = {
    "lm_memory": (["mem_transformer_lm", "--mem-tokens", "4"], 10, 8),
    "lm_recurrent": (
        ["mem_transformer_lm", "--mem-tokens", "3", "--mem-recurrent", "--mem-segment-len", "6"],
        10,
        6,
    ),
    "lm_plain": (["transformer_lm"], 1, 0),
    "lm_mem0": (["mem_transformer_lm", "--mem-tokens", "0"], 1, 0),
}


@pytest.fixture(scope="module")
def lm_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binarized recall stream (lines of 7 tokens), raw text in ``../raw``."""
    root = tmp_path_factory.mktemp("lm_attention")
    return write_recall_corpus(root, {"train": 256, "valid": 16, "test": 32})


@pytest.fixture(scope="module")
def lm_stage(lm_data: Path) -> dict:
    """Train the tiny LMs once (a few seconds each, 10 updates or 1: the stage reads their
    attention, not their quality); run the stage CLI on each, with a token file or a
    prepared-data folder as --sentences. Two models at a time."""
    root, data = lm_data.parent, lm_data
    prep = root / "prep"  # laid out like data/prep/wikitext2
    prep.mkdir()
    shutil.copy(root / "raw" / "test.txt", prep / "test.tokens")

    def train_and_run(name: str) -> subprocess.CompletedProcess:
        arch, updates, _ = LM_MODELS[name]
        save = root / f"ckpt_{name}"
        run_cli(
            "train", str(data), *LM_TRAIN, "--arch", *arch, "--max-update", str(updates),
            "--save-dir", str(save), threads=1,
        )  # fmt: skip
        sentences = root / "raw" / "test.txt" if name == "lm_memory" else prep
        return run_script(
            "--checkpoint", str(save / "checkpoint_last.pt"), "--data", str(data),
            "--sentences", str(sentences), "--num-sentences", str(NUM_SENTENCES),
            "--name", name, "--out", str(root / "out"),
        )  # fmt: skip

    procs = dict(zip(LM_MODELS, in_parallel(train_and_run, LM_MODELS), strict=True))
    return {"out": root / "out", "procs": procs}


def lm_blocks(info: ModelInfo, n: int) -> dict[str, slice]:
    """Read memory, tokens and write memory on the axes of an LM sample."""
    m, w = info.num_memory, info.num_write
    return {"read": slice(0, m), "tokens": slice(m, m + n), "write": slice(m + n, m + n + w)}


@pytest.mark.parametrize("name", ["lm_memory", "lm_recurrent"])
def test_lm_saved_rows_sum_to_one_over_their_keys(lm_stage, name):
    info, samples, _ = load(lm_stage, name)
    m = int(LM_MODELS[name][0][2])
    recurrent = name == "lm_recurrent"
    assert (info.num_memory, info.layout) == (m, "lm_recurrent" if recurrent else "lm")
    assert len(samples) == NUM_SENTENCES
    for s in samples:
        n = LM_MODELS[name][2]
        assert len(s.src_tokens) == n and s.src_tokens[0] == "</s>"
        t = m + n + (m if recurrent else 0)
        assert s.self_attn.shape == (2, 4, t, t)  # (L, H, read + tokens + write, same)
        assert s.cross.shape[0] == 0 and s.tgt_tokens == []  # no cross-attention
        np.testing.assert_allclose(s.self_attn.sum(-1), 1.0, atol=1e-5)
        assert (s.self_attn >= 0).all()


@pytest.mark.parametrize("name", ["lm_memory", "lm_recurrent"])
def test_lm_tokens_are_causal_and_never_see_the_write_memory(lm_stage, name):
    info, samples, _ = load(lm_stage, name)
    for s in samples:
        read, tokens, write = lm_blocks(info, len(s.src_tokens)).values()
        token_rows = s.self_attn[:, :, tokens, :]  # (L, H, n, T)
        later = np.triu(np.ones((len(s.src_tokens),) * 2, dtype=bool), k=1)  # key after row
        assert not token_rows[:, :, :, tokens][..., later].any()
        assert not token_rows[:, :, :, write].any()
        assert (token_rows[:, :, :, read].sum(-1) > 0).all()  # every token reads the memory
        assert not s.self_attn[:, :, read, tokens].any()  # read memory: only itself
        assert not s.self_attn[:, :, read, write].any()


@pytest.mark.parametrize("name", ["lm_memory", "lm_recurrent"])
def test_lm_memory_mass_is_the_sum_of_its_block(lm_stage, name):
    info, samples, table = load(lm_stage, name)
    assert list(table.columns) == list(COLUMNS)
    assert table["layer"].tolist() == [1, 2] and (table["layout"] == info.layout).all()

    def mean_mass(rows: str, keys: str) -> np.ndarray:  # (L,) over samples, heads and rows
        per_sample = []
        for s in samples:
            blocks = lm_blocks(info, len(s.src_tokens))
            mass = s.self_attn[:, :, blocks[rows], blocks[keys]].sum(-1)  # (L, H, rows)
            per_sample.append(mass.mean(axis=(1, 2)))
        return np.mean(per_sample, axis=0)

    memory_rows = "write" if info.num_write else "read"
    np.testing.assert_allclose(table["seq_to_memory"], mean_mass("tokens", "read"), atol=1e-5)
    np.testing.assert_allclose(table["seq_to_seq"], mean_mass("tokens", "tokens"), atol=1e-5)
    np.testing.assert_allclose(table["seq_to_memory"] + table["seq_to_seq"], 1.0, atol=1e-5)
    to_read, to_tokens = mean_mass(memory_rows, "read"), mean_mass(memory_rows, "tokens")
    np.testing.assert_allclose(table["memory_to_memory"], to_read, atol=1e-5)
    np.testing.assert_allclose(table["memory_to_seq"], to_tokens, atol=1e-5)
    if info.num_write:  # the rest is write -> write
        assert ((table["memory_to_memory"] + table["memory_to_seq"]) < 1 - 1e-4).all()
    else:  # read rows see the read memory only
        np.testing.assert_allclose(table["memory_to_memory"], 1.0, atol=1e-5)
    assert table["decoder_to_memory"].isna().all()  # an LM has no cross-attention
    entropy = table["memory_entropy_norm"]
    assert ((entropy > 0) & (entropy <= 1)).all()
    doc = json.loads((lm_stage["out"] / name / "memory_mass.json").read_text())
    assert doc["status"] == "ok" and doc["layout"] == info.layout and len(doc["layers"]) == 2
    assert doc["layers"][0]["decoder_to_memory"] is None and "decoder_to_memory" in doc["notes"]


@pytest.mark.parametrize("name", ["lm_memory", "lm_recurrent"])
def test_lm_pngs_exist_with_the_expected_size_and_are_not_blank(lm_stage, name):
    info, samples, _ = load(lm_stage, name)
    sample = samples[attention_plots.pick_sample(samples)]
    t = sample.self_attn.shape[-1]
    expected = {
        f"decoder_layer{layer}.png": attention_plots.grid_figsize(t, t, 4) for layer in (1, 2)
    }
    expected["summary.png"] = attention_plots.SUMMARY_SIZE
    folder = lm_stage["out"] / name
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(expected)
    for file, figsize in expected.items():
        image = mpimg.imread(folder / file)  # (height, width, RGBA) in [0, 1]
        width, height = attention_plots.figure_pixels(figsize)
        assert image.shape[:2] == (height, width), file
        assert image[..., :3].mean(-1).std() > MIN_PIXEL_STD, f"{file} looks blank"


def test_lm_cli_prints_a_short_table(lm_stage):
    proc = lm_stage["procs"]["lm_recurrent"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("lm_recurrent: attention of 3 sentences written to")
    assert "memory_to_seq" in lines[1] and "decoder_to_memory" not in lines[1]
    assert len(lines) == 4  # message, header, two layers


@pytest.mark.parametrize("name", ["lm_plain", "lm_mem0"])
def test_lm_without_memory_the_stage_says_so_and_exits_0(lm_stage, name):
    proc = lm_stage["procs"][name]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == f"no memory to plot: {name} has 0 memory tokens"
    folder = lm_stage["out"] / name
    doc = json.loads((folder / "memory_mass.json").read_text())
    assert doc["status"] == "no_memory" and doc["num_memory"] == 0 and doc["layers"] == []
    assert doc["layout"] == "lm"
    assert pd.read_csv(folder / "memory_mass.csv").empty
    assert not list(folder.glob("*.png")) and not (folder / "attention.npz").exists()


def test_comparison_table_merges_lm_and_translation_models(stage, lm_stage, tmp_path):
    names = [("prepend", stage), ("lm_memory", lm_stage), ("lm_plain", lm_stage)]
    merged = write_comparison(
        [s["out"] / n / "memory_mass.csv" for n, s in names], tmp_path / "memory_mass.csv"
    )
    assert merged["model"].tolist() == ["prepend", "prepend", "lm_memory", "lm_memory"]
    assert merged["layout"].tolist() == ["prepend", "prepend", "lm", "lm"]
    assert merged["decoder_to_memory"].isna().tolist() == [False, False, True, True]
    assert "| lm_memory | lm | 4 | 2 |" in (tmp_path / "memory_mass.md").read_text()


def test_lm_recording_matches_fairseq_and_changes_nothing(lm_data):
    """The recorded probabilities are fairseq's own (head-averaged, as its fused attention
    returns them); recording leaves the output unchanged and is switched off again."""
    model, task = memory_lm(lm_data, 3, "--mem-recurrent", "--mem-segment-len", "5")
    model.eval()
    line = "k1 k2 f0 f1 f2 f3"
    tokens = encode_lm_line(task.source_dictionary, line, 5)  # (1, 5)
    inputs: list[dict] = []  # keyword arguments of each layer's self-attention call

    def keep(_module: torch.nn.Module, _args: tuple, kwargs: dict) -> None:
        inputs.append(kwargs)

    layers = model.decoder.layers
    handles = [
        layer.self_attn.register_forward_pre_hook(keep, with_kwargs=True) for layer in layers
    ]
    with torch.no_grad():
        plain = model(tokens)[0]  # fills inputs: one self-attention call per layer
        for handle in handles:
            handle.remove()
        model.decoder.recorded_attention = []
        recording = model(tokens)[0]
        model.decoder.recorded_attention = None
        sample = extract_lm_sample(model, task, line)
        averaged = [
            layer.self_attn(**{**kw, "need_weights": True})[1]  # (B, T, T): mean of heads
            for layer, kw in zip(layers, inputs, strict=True)
        ]
    torch.testing.assert_close(recording, plain, atol=0, rtol=0)
    assert model.decoder.recorded_attention is None  # switched off again
    assert sample.src_tokens == ["</s>", "k1", "k2", "f0", "f1"]  # cut to the segment
    assert sample.self_attn.shape == (2, 4, 3 + 5 + 3, 3 + 5 + 3)
    for probs, weights in zip(sample.self_attn, averaged, strict=True):
        np.testing.assert_allclose(probs.mean(0), weights[0].numpy(), atol=1e-5)


def test_a_prepared_data_folder_names_the_sample_file(tmp_path):
    lm, mt = ModelInfo("x", "lm", 4), ModelInfo("y", "prepend", 4)
    (tmp_path / "test.tokens").write_text("a b\n")
    (tmp_path / "test.raw.de").write_text("a b\n")
    assert sentence_source(tmp_path, lm) == (tmp_path / "test.tokens", None)
    assert sentence_source(tmp_path, lm, tmp_path / "none") == (
        tmp_path / "test.tokens", None,
    )  # fmt: skip
    assert sentence_source(tmp_path, mt) == (tmp_path / "test.raw.de", None)
    (tmp_path / "spm.model").write_text("")
    assert sentence_source(tmp_path, mt) == (
        tmp_path / "test.raw.de",
        tmp_path / "spm.model",
    )
    with pytest.raises(ValueError, match="does not exist"):
        sentence_source(tmp_path / "test.raw.de", mt, tmp_path / "missing.model")
    (tmp_path / "test.tokens").unlink()
    with pytest.raises(ValueError, match="expected test.tokens in"):
        sentence_source(tmp_path, lm)
