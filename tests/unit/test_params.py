"""params.yaml validation: the committed file is valid; each mistake is one clear line."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from params_probe_helpers import DELETE, edited
from pipeline_helpers import REPO, TINY_PARAMS

from memtr.common.errors import ConfigError
from memtr.config.params import load_params, parse_params
from memtr.settings import pretrain_dir
from memtr.tasks import task_of


def test_committed_params_and_presets_are_valid():
    params = load_params(REPO / "params.yaml")
    assert params.experiment.reference in params.experiment.variants
    presets = sorted((REPO / "workflow" / "presets").glob("*.yaml"))
    assert presets, "the paper's presets live in workflow/presets/"
    for preset in presets:
        load_params(preset)


def mutate(path: str, value) -> dict:
    """TINY_PARAMS with the dotted key ``path`` set to ``value`` (DELETE removes it)."""
    return edited(TINY_PARAMS, path, value)


BAD = [
    ("train.max_update", -5, "train.max_update must be > 0, got -5"),
    ("train.lr", "fast", "train.lr must be int or float, got 'fast'"),
    ("train.warmup_updates", 100, "train.warmup_updates (100) must be below train.max_update (30)"),
    ("train.dropuot", 0.1, "unknown key train.dropuot"),
    ("train.dropout", 1.5, "train.dropout must be in [0, 1), got 1.5"),
    # options the pipeline sets: fairseq would keep the last one and silently override it
    ("train.extra_args", ["--arch", "transformer"],
     "train.extra_args: --arch is set by the pipeline; remove it"),
    ("train.extra_args", ["--update-freq", "2", "--lr=0.1"],
     "train.extra_args: --lr=0.1 is set by the pipeline from train.lr; set that instead"),
    ("train.extra_args", ["--fp16"],
     "train.extra_args: --fp16 is set by the pipeline from train.precision (fp32 | fp16 | bf16); set that instead"),
    ("train.extra_args", ["--memory-efficient-bf16"], "from train.precision"),
    ("train.precision", "fp8", "train.precision must be one of fp32, fp16, bf16, got 'fp8'"),
    ("train.precision", 16, "train.precision must be str, got 16"),
    ("train.extra_args", ["--keep_interval_updates", "5"],
     "train.extra_args: --keep_interval_updates is set by the pipeline; remove it"),
    # options that break the pipeline's reading of a run: --no-save trained to the end, then
    # failed on the missing checkpoint_best.pt; --log-format simple gave 0 updates, NaN losses
    ("train.extra_args", ["--no-save"],
     "train.extra_args: --no-save would save no checkpoint: the train stage keeps checkpoint_best.pt as model.pt"),
    ("train.extra_args", ["--log-format", "simple"],
     "train.extra_args: --log-format is set by the pipeline (json): the train stage reads"),
    ("train.extra_args", ["--log-format=tqdm"], "train.extra_args: --log-format=tqdm is set by the pipeline (json)"),
    ("train.extra_args", ["--disable-validation"], "--disable-validation would validate nothing"),
    ("train.extra_args", ["--no-last-checkpoints"], "a killed run could not resume"),
    ("train.extra_args", ["--no-save-optimizer-state"], "a resumed run would start again from update 0"),
    ("train.extra_args", ["--reset-optimizer"], "when a killed run resumes"),
    ("experiment.variants", ["baseline", "mem99"], "experiment.variants names 'mem99'"),
    (
        "experiment.reference",
        "mem99",
        "experiment.reference 'mem99' must be one of experiment.variants",
    ),
    ("experiment.seeds", [], "experiment.seeds must be a non-empty list"),
    ("variants.mem4.layout", "sideways", "variants.mem4.layout must be one of none, prepend"),
    ("variants.mem4.mem_tokens", -1, "variants.mem4.mem_tokens must be between 0 and 1024, got -1"),
    (
        "variants.baseline.mem_tokens",
        4,
        "variants.baseline: layout none (the baseline) needs mem_tokens 0",
    ),
    (
        "variants.mem4",
        {"layout": "bottleneck", "mem_tokens": 0},
        "layout bottleneck needs mem_tokens >= 1",
    ),
    ("model.size", "huge", "model.size must be one of"),
    ("model.args.arch", "lstm", "model.args.arch is set by the pipeline"),
    ("data.dataset", "wmt99", "data.dataset: unknown dataset 'wmt99'"),
    (
        "data.dataset",
        "wikitext2",
        "missing key train.tokens_per_sample (needed for language_modeling)",
    ),
    (
        "train.tokens_per_sample",
        64,
        "train.tokens_per_sample applies to language models and classification",
    ),
    ("variants.mem4.recurrent", True, "variants.mem4.recurrent applies to language models only"),
    (
        "variants.mem4.max_update",
        5,
        "variants.mem4.max_update (5) must be above train.warmup_updates (10)",
    ),
    ("variants.mem4.max_update", 0, "variants.mem4.max_update must be > 0, got 0"),
    ("eval.equivalence_margin", 0, "eval.equivalence_margin must be above 0, got 0"),
    ("eval.equivalence_margin", "one", "eval.equivalence_margin"),
    (
        "variants.mem4.max_updates",
        50,
        "unknown key variants.mem4.max_updates; allowed: layout, mem_tokens, recurrent, max_update",
    ),
    (
        "experiment.name",
        "my results",
        "experiment.name 'my results' must use letters, digits and _ only",
    ),
    ("experiment.name", DELETE, "missing key experiment.name"),
    ("data.bpe_vocab_size", 0, "data.bpe_vocab_size must be positive"),
    ("data.clean", DELETE, "missing key data.clean"),
    ("eval.sacrebleu_tokenize", "moses", "eval.sacrebleu_tokenize must be one of"),
    ("eval.splits", ["train"], "eval.splits must list valid and/or test"),
    ("attention.seeds", [7], "attention.seeds has 7, which is not in experiment.seeds"),
    ("eval", DELETE, "missing section 'eval'"),
    ("eval.extra_test", ["newstest2015"], "eval.extra_test: unknown dataset 'newstest2015'; known datasets:"),
    ("eval.extra_test", ["newstest2014_de_en"] * 2, "eval.extra_test lists a test set twice"),
    ("eval.extra_test", ["sacrebleu:wmt99"], "eval.extra_test: sacrebleu has no test set 'wmt99' (see `sacrebleu --list`)"),
    ("eval.extra_test", ["sacrebleu:wmt14/full", "sacrebleu:wmt14/full"], "eval.extra_test lists a test set twice"),
    ("eval.extra_test", ["sacrebleu:wmt20/robust/set2"], "eval.extra_test: sacrebleu:wmt20/robust/set2 has no de-en (it has en-ja, ja-en)"),
    ("eval.extra_test", "newstest2014_de_en", "eval.extra_test must be list, got 'newstest2014_de_en'"),
    ("experiment.equal_compute", {"mem4": "baseline_x2"}, "experiment.equal_compute names 'baseline_x2', which is not in experiment.variants"),
    ("experiment.equal_compute", {"mem4": "mem4"}, "experiment.equal_compute pairs 'mem4' with itself"),
    ("experiment.equal_compute", ["mem4"], "experiment.equal_compute must be dict, got ['mem4']"),
]  # fmt: skip

LM_PARAMS = {
    **TINY_PARAMS,
    "data": {**TINY_PARAMS["data"], "dataset": "wikitext2"},
    "variants": {"baseline": {"layout": "none", "mem_tokens": 0},
                 "mem4": {"layout": "prepend", "mem_tokens": 4, "recurrent": True}},
    "train": {**TINY_PARAMS["train"], "label_smoothing": 0.0, "tokens_per_sample": 32},
    "eval": {"splits": ["valid", "test"], "batch_size": 8, "bootstrap_resamples": 100},
}  # fmt: skip
GLUE_PARAMS = {
    **LM_PARAMS,
    "data": {**TINY_PARAMS["data"], "dataset": "glue_rte"},
    "variants": {"baseline": {"layout": "none", "mem_tokens": 0},
                 "mem4": {"layout": "prepend", "mem_tokens": 4}},
    "eval": {"splits": ["valid"], "batch_size": 8, "bootstrap_resamples": 100},
}  # fmt: skip


BAD_BY_TASK = [
    (LM_PARAMS, "train.label_smoothing", 0.1, "train.label_smoothing applies to translation only; set 0 for language_modeling"),
    (LM_PARAMS, "eval.beam", 5, "unknown key eval.beam; allowed: splits, batch_size, bootstrap_resamples, extra_test, equivalence_margin"),
    (LM_PARAMS, "variants.mem4.layout", "ctrl", "variants.mem4.layout ctrl is for translation; language_modeling offers none, prepend"),
    (LM_PARAMS, "variants.mem4", {"layout": "none", "mem_tokens": 0, "recurrent": True}, "variants.mem4: recurrent memory needs mem_tokens >= 1"),
    (LM_PARAMS, "model.size", "iwslt_de_en", "model.size must be one of base, tiny, big, wiki103 for language_modeling"),
    (LM_PARAMS, "train.restore_file", "roberta.pt", "train.restore_file (a pre-trained encoder) applies to classification"),
    (LM_PARAMS, "train.tokens_per_sample", 0, "train.tokens_per_sample must be > 0, got 0"),
    (GLUE_PARAMS, "eval.splits", ["test"], "eval.splits must list valid for classification"),
    (GLUE_PARAMS, "variants.mem4.recurrent", True, "variants.mem4.recurrent applies to language models only"),
    (LM_PARAMS, "eval.extra_test", ["newstest2014_de_en"], "eval.extra_test: 'newstest2014_de_en' (mt de-en) does not match data.dataset 'wikitext2' (lm -)"),
    (LM_PARAMS, "eval.extra_test", ["wikitext103"], "eval.extra_test: 'wikitext103' is a training dataset; name an evaluation-only entry (newstest2014_de_en, wikitext103_eval)"),
    (LM_PARAMS, "data.dataset", "wikitext103_eval", "data.dataset 'wikitext103_eval' is a test set only (no training data); list it under eval.extra_test"),
    (GLUE_PARAMS, "eval.extra_test", ["wikitext103_eval"], "does not match data.dataset 'glue_rte'"),
    (LM_PARAMS, "eval.extra_test", ["sacrebleu:wmt14/full"], "eval.extra_test: sacrebleu:wmt14/full is a translation test set"),
]  # fmt: skip


def test_language_model_and_classification_params_are_valid():
    lm, glue = parse_params(LM_PARAMS), parse_params(GLUE_PARAMS)
    assert (lm.spec.name, glue.spec.name) == ("language_modeling", "classification")
    assert lm.variants["mem4"].recurrent and not glue.variants["mem4"].recurrent
    assert lm.spec.arch(lm.variants["mem4"].layout, "tiny") == "mem_transformer_lm_tiny"
    assert glue.spec.arch(glue.variants["baseline"].layout, "base") == "roberta_base"


@pytest.mark.parametrize(("doc", "path", "value", "message"), BAD_BY_TASK,
                         ids=[f"{b[0]['data']['dataset']}-{b[1]}" for b in BAD_BY_TASK])  # fmt: skip
def test_task_specific_mistakes_are_one_clear_line(doc, path, value, message):
    with pytest.raises(ConfigError) as err:
        parse_params(edited(doc, path, value))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_params_are_one_clear_line(path, value, message):
    with pytest.raises(ConfigError) as err:
        parse_params(mutate(path, value))
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_unknown_section_and_non_mapping():
    with pytest.raises(ConfigError, match="unknown section 'trian'"):
        parse_params({**TINY_PARAMS, "trian": {}})
    with pytest.raises(ConfigError, match="must hold a mapping at top level"):
        parse_params(["not", "a", "mapping"])


def test_stage_script_reports_bad_params_in_one_line_and_writes_nothing(tmp_path: Path):
    params = tmp_path / "params.yaml"
    out = tmp_path / "build" / "params.ok"
    script = str(REPO / "workflow/scripts/check_params.py")

    def check_params() -> subprocess.CompletedProcess:
        run = [sys.executable, script, "--params", str(params), "--out", str(out)]
        return subprocess.run(run, capture_output=True, text=True)

    params.write_text(yaml.safe_dump(mutate("train.max_update", 0)))
    proc = check_params()
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: train.max_update must be > 0, got 0"
    assert not out.exists()
    params.write_text("train: [unclosed\n")
    proc = check_params()
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot parse") and proc.stderr.count("\n") == 1


def test_the_check_stage_refuses_a_file_without_the_pretrain_section(tmp_path: Path):
    """A campaign's params snapshot may lack pretrain: (the tables read it alone); a file the
    pipeline runs must hold it: dvc.yaml resolves ${pretrain.name} before any stage, and DVC
    said only "Could not find 'pretrain.name'" while Snakemake ran without it."""
    doc = copy.deepcopy(TINY_PARAMS)
    del doc["pretrain"]
    assert parse_params(doc).pretrain.name == "none"
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(doc))
    script = str(REPO / "workflow/scripts/check_params.py")
    run = [sys.executable, script, "--params", str(params), "--out", str(tmp_path / "ok")]
    proc = subprocess.run(run, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == (
        f"error: missing section 'pretrain' in {params}: dvc.yaml reads pretrain.name; "
        "write pretrain: {name: none} for no pre-training\n"
    )


def test_use_preset_validates_switches_and_keeps_the_old_params(tmp_path: Path):
    script = REPO / "workflow/scripts/use_preset.py"
    target = tmp_path / "params.yaml"
    target.write_text(yaml.safe_dump(TINY_PARAMS))
    run = [sys.executable, str(script), "--params", str(target)]
    proc = subprocess.run([*run, "nonesuch"], capture_output=True, text=True)
    assert proc.returncode == 2 and "error: no preset 'nonesuch'; available: " in proc.stderr
    assert yaml.safe_load(target.read_text()) == TINY_PARAMS
    proc = subprocess.run([*run, "cpu_replication"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == (REPO / "workflow/presets/cpu_replication.yaml").read_text()
    (backup,) = tmp_path.glob("params.yaml.bak-*")
    assert yaml.safe_load(backup.read_text()) == TINY_PARAMS


def test_use_preset_says_what_to_run_for_a_committed_campaign(tmp_path: Path):
    """use_preset.py cpu_replication once said `run dvc repro`, which would have trained the
    27 committed runs again (dvc status marked them all changed): it now gives the routes."""
    script = REPO / "workflow/scripts/use_preset.py"
    lock = tmp_path / "results" / "cpu_replication" / "dvc.lock"
    lock.parent.mkdir(parents=True)
    recorded = yaml.safe_load((REPO / "results/cpu_replication/dvc.lock").read_text())
    lock.write_text(yaml.safe_dump(recorded))

    def use(name: str) -> str:
        run = [sys.executable, str(script), name, "--params", str(tmp_path / "params.yaml")]
        done = subprocess.run(run, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = use("cpu_replication")
    assert "Its runs are committed (results/cpu_replication/dvc.lock records 27 of 27)" in out
    assert "a plain `dvc repro` would train them all again" in out
    assert (
        "cp results/cpu_replication/dvc.lock dvc.lock && dvc repro extra_test && "
        "dvc repro --single-item --force tables figures" in out
    )
    assert "run `dvc repro`" not in out and "unrecorded" not in out
    del recorded["stages"]["evaluate@mem10-3"]  # a campaign in progress: one run to go
    lock.write_text(yaml.safe_dump(recorded))
    out = use("cpu_replication")
    assert "records 26 of 27" in out and "its 1 unrecorded runs, one at a time" in out
    assert "workflow/scripts/campaign.py pending" in out
    assert use("demo").endswith(
        "is now the preset 'demo'; run `dvc repro` or `snakemake --profile local`\n"
    )


def test_extra_args_the_pipeline_does_not_set_reach_fairseq_train():
    """Options the pipeline leaves alone pass through, last in the train command."""
    from memtr.run.training import train_command

    extra = ["--update-freq", "6", "--max-valid-steps", "1"]
    params = parse_params(mutate("train.extra_args", extra))
    command = train_command(
        params.train, params.variants["mem4"], [], 1, Path("data"), Path("save")
    )
    assert command[-len(extra) :] == extra


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"encoder_embed_dim": 30, "encoder_attention_heads": 4},
         "model.args.encoder_embed_dim: 30 must be divisible by encoder_attention_heads 4"),
        # the heads left out: transformer's default, 8, read from fairseq's registry
        ({"decoder_embed_dim": 100},
         "model.args.decoder_embed_dim: 100 must be divisible by decoder_attention_heads 8 "
         "(filled in by transformer)"),
    ],
)  # fmt: skip
def test_embedding_width_must_split_over_the_heads(args, message):
    """The check stage reads model.args with fairseq's own parser (memtr.run.option_checks)."""
    doc = copy.deepcopy(TINY_PARAMS)
    doc["model"] = {"size": "base", "args": args}
    params = parse_params(doc)  # the loader stays light: fairseq's checks are the check stage's
    task = task_of(params.spec)
    with pytest.raises(ConfigError, match=re.escape(message)):
        task.check_options(params.train, params.model, list(params.variants.values()))
    doc["model"]["args"] = {**args, "encoder_attention_heads": 2, "decoder_attention_heads": 2}
    doc["model"]["args"].update(encoder_embed_dim=32, decoder_embed_dim=32)
    params = parse_params(doc)  # the same keys, widths that split: accepted
    task.check_options(params.train, params.model, list(params.variants.values()))


def test_a_sacrebleu_test_set_is_scored_under_its_own_label():
    doc = copy.deepcopy(TINY_PARAMS)
    doc["eval"]["extra_test"] = [
        "newstest2014_de_en",
        "sacrebleu:wmt14/full",
        "sacrebleu:iwslt17/tst2015",
    ]
    params = parse_params(doc)
    assert params.study().eval_labels() == ["test", "newstest2014", "wmt14_full", "iwslt17_tst2015"]


# A classification study on GPT-2 BPE: the pretrain stage's files and model (claim 3), or
# a released model's files (data.gpt2_bpe by URL or path).
PRETRAIN = {
    "name": "mlm", "corpus": "wikitext2", "bpe_merges": 100, "tokens_per_sample": 32,
    "dropout": 0.1, "max_update": 20, "max_tokens": 512,
    "lr": 0.001, "warmup_updates": 2, "weight_decay": 0.01, "mask_prob": 0.15,
    "validate_interval_updates": 10, "seed": 1, "extra_args": [],
}  # fmt: skip
PRETRAINED_GLUE = edited(
    edited(
        edited(edited(GLUE_PARAMS, "pretrain", PRETRAIN), "data.bpe", "gpt2"),
        "data.gpt2_bpe", "pretrain",
    ),
    "train.restore_file", "pretrain",
)  # fmt: skip
RELEASE = {"encoder_json": "https://example.org/encoder.json",
           "vocab_bpe": {"url": "https://example.org/vocab.bpe", "sha256": "ab" * 32},
           "dict": "roberta.base/dict.txt"}  # fmt: skip

BAD_SUBWORDS = [
    (GLUE_PARAMS, "data.bpe", "wordpiece", "data.bpe must be one of sentencepiece, gpt2, got 'wordpiece'"),
    (TINY_PARAMS, "data.bpe", "gpt2", "data.bpe gpt2 applies to classification (GLUE) datasets, not 'multi30k_de_en' (kind mt); use sentencepiece"),
    (GLUE_PARAMS, "data.bpe", "gpt2", "data.bpe gpt2 needs data.gpt2_bpe: the files encoder_json, vocab_bpe and dict (URLs or paths), or 'pretrain'"),
    (GLUE_PARAMS, "data.gpt2_bpe", RELEASE, "data.gpt2_bpe is read with data.bpe: gpt2 only; remove it"),
    (PRETRAINED_GLUE, "data.gpt2_bpe", {"encoder_json": "e.json", "vocab_bpe": "v.bpe"}, "data.gpt2_bpe needs dict (the file dict.txt)"),
    (PRETRAINED_GLUE, "data.gpt2_bpe", {**RELEASE, "merges": "m.txt"}, "unknown key data.gpt2_bpe.merges; allowed: encoder_json, vocab_bpe, dict"),
    (PRETRAINED_GLUE, "data.gpt2_bpe", "released", "data.gpt2_bpe must map encoder_json, vocab_bpe and dict to files, or be 'pretrain'; got 'released'"),
    (PRETRAINED_GLUE, "data.gpt2_bpe", {**RELEASE, "dict": {"url": "d.txt", "sha256": "x"}}, "data.gpt2_bpe.dict.sha256 must be 64 hex digits, got 'x'"),
    (PRETRAINED_GLUE, "pretrain.name", "none", "data.gpt2_bpe: pretrain needs the pretrain stage; set pretrain.name (and its keys) or give the files"),
    (PRETRAINED_GLUE, "data.gpt2_bpe", RELEASE, "train.restore_file: pretrain needs data.bpe: gpt2 and data.gpt2_bpe: pretrain (the pre-trained model's dictionary)"),
    (PRETRAINED_GLUE, "pretrain.corpus", "glue_sst2", "pretrain.corpus 'glue_sst2' must be a language-modelling corpus (registry wikitext2, wikitext103, or a data.datasets entry of task language_modeling); it is of kind glue"),
    (PRETRAINED_GLUE, "pretrain.corpus", "wiki", "pretrain.corpus 'wiki' must be a language-modelling corpus"),
    (PRETRAINED_GLUE, "pretrain.mask_prob", 1.5, "pretrain.mask_prob must be in (0, 1), got 1.5"),
    (PRETRAINED_GLUE, "pretrain.dropout", 1.0, "pretrain.dropout must be in [0, 1), got 1.0"),
    (PRETRAINED_GLUE, "pretrain.tokens_per_sample", 64, "train.tokens_per_sample (32) must equal pretrain.tokens_per_sample (64): the positions of the pre-trained model"),
    (PRETRAINED_GLUE, "pretrain.warmup_updates", 20, "pretrain.warmup_updates must be below pretrain.max_update"),
    (PRETRAINED_GLUE, "pretrain.name", "my-mlm", "pretrain.name 'my-mlm' must use letters, digits and _ only"),
    (PRETRAINED_GLUE, "pretrain.epochs", 3, "unknown key pretrain.epochs; allowed: name, corpus, bpe_merges, tokens_per_sample"),
    (PRETRAINED_GLUE, "pretrain.extra_args", ["--max-update", "5"], "pretrain.extra_args: --max-update is set by the pipeline"),
    (PRETRAINED_GLUE, "pretrain.extra_args", ["--bf16"], "pretrain.extra_args: --bf16 is set by the pipeline from pretrain.precision (fp32 | fp16 | bf16); set that instead"),
    (PRETRAINED_GLUE, "pretrain.extra_args", ["--no-save"], "pretrain.extra_args: --no-save would save no checkpoint"),
    (PRETRAINED_GLUE, "pretrain.precision", "half", "pretrain.precision must be one of fp32, fp16, bf16, got 'half'"),
    (edited(PRETRAINED_GLUE, "pretrain", {"name": "mlm"}), "pretrain.seed", 1, "missing key pretrain.corpus"),
    (edited(TINY_PARAMS, "pretrain", PRETRAIN), "pretrain.seed", 1, "pretrain (a masked LM) applies to classification; set pretrain.name: none for translation"),
    (GLUE_PARAMS, "train.restore_file", "pretrain", "train.restore_file: pretrain needs the pretrain stage; set pretrain.name (and its keys)"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "path", "value", "message"), BAD_SUBWORDS,
                         ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_SUBWORDS)])  # fmt: skip
def test_subword_and_pretrain_mistakes_are_one_clear_line(doc, path, value, message):
    with pytest.raises(ConfigError) as err:
        parse_params(edited(doc, path, value))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_pretrained_study_resolves_the_stage_folder_and_a_release_its_files():
    params = parse_params(PRETRAINED_GLUE)
    assert pretrain_dir(params.pretrain) == Path("pretrain/mlm/model")
    assert params.restore_file() == "pretrain/mlm/model/model.pt"
    assert params.data.gpt2_from_pretrain
    assert [raw.name for raw in params.data.selected().files][-3:] == [
        "train.tsv",
        "dev.tsv",
        "test.tsv",
    ]
    released = parse_params(edited(edited(edited(
        GLUE_PARAMS, "data.bpe", "gpt2"), "data.gpt2_bpe", RELEASE), "train.restore_file", "rb/model.pt"))  # fmt: skip
    assert pretrain_dir(released.pretrain) is None and released.restore_file() == "rb/model.pt"
    files = {raw.name: raw for raw in released.data.selected().files}
    assert files["gpt2.vocab.bpe"].url == "https://example.org/vocab.bpe"
    assert files["gpt2.dict.txt"].url == "roberta.base/dict.txt"
    hashes = released.data.selected().options["download_hashes"]
    assert hashes == {"https://example.org/vocab.bpe": "sha256:" + "ab" * 32}
    # the committed campaigns' params snapshots hold neither data.bpe nor pretrain
    old = copy.deepcopy(GLUE_PARAMS)
    del old["pretrain"], old["data"]["bpe"], old["data"]["gpt2_bpe"]
    assert (
        parse_params(old).pretrain.name == "none" and parse_params(old).data.bpe == "sentencepiece"
    )


def test_use_preset_replaces_the_dataset_and_the_experiment_name(tmp_path: Path):
    script = REPO / "workflow/scripts/use_preset.py"
    target = tmp_path / "params.yaml"
    args = ["cpu_replication_glue", "--dataset", "glue_cola", "--experiment", "glue_cola_study"]
    done = subprocess.run([sys.executable, script, *args, "--params", target],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    preset = (REPO / "workflow/presets/cpu_replication_glue.yaml").read_text().splitlines()
    written = target.read_text().splitlines()
    changed = [(a, b) for a, b in zip(preset, written, strict=True) if a != b]
    assert [b.split("#")[0].strip() for _, b in changed] == [
        "dataset: glue_cola", "name: glue_cola_study"]  # fmt: skip
    done = subprocess.run([sys.executable, script, *args[:1], "--dataset", "glue_nope",
                           "--params", target], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith(
        "error: data.dataset: unknown dataset 'glue_nope'"
    )
    assert target.read_text().splitlines() == written  # not touched
