"""model.args and train.extra_args checked by fairseq's own parsers (memtr/run/option_checks.py),
with the real fairseq and plugin: each malformed value is refused in one line naming the
field; every committed params file and preset is accepted for each of its variants."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pipeline_helpers import TINY_PARAMS

from memspec import LM_MODEL, ROBERTA_MODEL, TRANSLATION_ARCH
from memtr.common.errors import ConfigError
from memtr.datasets.registry import DATASETS
from memtr.run.option_checks import check_model_args, check_train_options

REPO = Path(__file__).resolve().parents[2]
PARAMS_FILES = [REPO / "params.yaml", *sorted((REPO / "workflow" / "presets").glob("*.yaml"))]

SMALL = {
    **{f"{side}_layers": 2 for side in ("encoder", "decoder")},
    **{f"{side}_embed_dim": 128 for side in ("encoder", "decoder")},
    **{f"{side}_attention_heads": 4 for side in ("encoder", "decoder")},
}
LM_SMALL = {"decoder_layers": 2, "decoder_embed_dim": 128, "decoder_attention_heads": 4}

# (case, architecture, model.args, the message's start)
MODEL_CASES = [
    ("unknown key", "transformer", {"encoder_layer": 2},
     "model.args.encoder_layer: not an option of transformer; did you mean encoder_layers?"),
    ("typo, LM", "transformer_lm", {"decoder_layer": 2},
     "model.args.decoder_layer: not an option of transformer_lm"),
    ("encoder key for an LM", "mem_transformer_lm", {"encoder_layers": 2},
     "model.args.encoder_layers: not an option of mem_transformer_lm"),
    ("decoder key for RoBERTa", "roberta_base", {"decoder_layers": 2},
     "model.args.decoder_layers: not an option of roberta_base"),
    ("memory option for the baseline", "transformer", {"mem_init_std": 0.1},
     "model.args.mem_init_std: not an option of transformer"),
    ("string for an integer", "transformer", {"encoder_layers": "two"},
     "model.args.encoder_layers: two is not an integer"),
    ("fraction for an integer", "mem_ctrl", {"encoder_layers": 2.5},
     "model.args.encoder_layers: 2.5 is not an integer"),
    ("string for a number", "mem_roberta_base", {"pooler_dropout": "some"},
     "model.args.pooler_dropout: some is not a number"),
    ("true for a count", "transformer", {"encoder_layers": True},
     "model.args.encoder_layers: takes a value, got true"),
    ("false for a count (silently left out)", "transformer", {"decoder_layers": False},
     "model.args.decoder_layers: takes a value, got false"),
    ("string for a flag", "transformer", {"share_all_embeddings": "yes"},
     "model.args.share_all_embeddings: a flag (true or false), got yes"),
    ("bad choice", "mem_transformer", {"activation_fn": "swish"},
     "model.args.activation_fn: swish is not one of relu, gelu"),
    ("zero encoder layers", "transformer", {"encoder_layers": 0},
     "model.args.encoder_layers: must be >= 1, got 0"),
    ("negative encoder layers", "mem_transformer", {"encoder_layers": -1},
     "model.args.encoder_layers: must be >= 1, got -1"),
    ("zero decoder layers, LM", "transformer_lm", {"decoder_layers": 0},
     "model.args.decoder_layers: must be >= 1, got 0"),
    ("zero heads", "mem_ctrl_shared", {"decoder_attention_heads": 0},
     "model.args.decoder_attention_heads: must be >= 1, got 0"),
    ("zero width, RoBERTa", "roberta_base", {"encoder_embed_dim": 0},
     "model.args.encoder_embed_dim: must be >= 1, got 0"),
    ("negative FFN width", "mem_transformer_lm", {"decoder_ffn_embed_dim": -512},
     "model.args.decoder_ffn_embed_dim: must be >= 1, got -512"),
    ("encoder width not divisible by heads", "transformer", {**SMALL, "encoder_embed_dim": 130,
     "decoder_embed_dim": 128},
     "model.args.encoder_embed_dim: 130 must be divisible by encoder_attention_heads 4"),
    ("decoder width not divisible by heads", "mem_bottleneck", {**SMALL, "decoder_embed_dim": 130},
     "model.args.decoder_embed_dim: 130 must be divisible by decoder_attention_heads 4"),
    ("heads not dividing the default width", "mem_transformer", {"encoder_attention_heads": 3},
     "model.args.encoder_attention_heads: 3 must divide encoder_embed_dim 512 (filled in by "
     "mem_transformer)"),
    ("width not divisible by the default heads", "transformer", {"encoder_embed_dim": 100},
     "model.args.encoder_embed_dim: 100 must be divisible by encoder_attention_heads 8 (filled "
     "in by transformer)"),
    ("decoder width derived from the encoder's", "transformer",
     {"encoder_embed_dim": 132, "encoder_attention_heads": 4},
     "model.args.decoder_embed_dim: 132 (filled in by transformer) must be divisible by "
     "decoder_attention_heads 8"),
    ("LM width not divisible by heads", "transformer_lm",
     {**LM_SMALL, "decoder_attention_heads": 3},
     "model.args.decoder_embed_dim: 128 must be divisible by decoder_attention_heads 3"),
    ("RoBERTa width not divisible by its 12 heads", "mem_roberta_base", {"encoder_embed_dim": 128},
     "model.args.encoder_embed_dim: 128 must be divisible by encoder_attention_heads 12"),
    ("shared embeddings of unequal widths", "transformer",
     {**SMALL, "decoder_embed_dim": 256, "share_all_embeddings": True},
     "model.args.share_all_embeddings: needs encoder_embed_dim and decoder_embed_dim equal, got "
     "128 and 256"),
    ("shared embeddings of unequal widths, ctrl", "mem_ctrl",
     {**SMALL, "encoder_embed_dim": 64, "share_all_embeddings": True},
     "model.args.share_all_embeddings: needs encoder_embed_dim and decoder_embed_dim equal, got "
     "64 and 128"),
    ("shared output of another width", "transformer",
     {"share_decoder_input_output_embed": True, "decoder_output_dim": 256},
     "model.args.share_decoder_input_output_embed: needs decoder_output_dim equal to "
     "decoder_embed_dim"),
    ("LM shared output, input width changed", "transformer_lm",
     {**LM_SMALL, "decoder_input_dim": 128, "share_decoder_input_output_embed": True},
     "model.args.share_decoder_input_output_embed: needs decoder_output_dim equal to "
     "decoder_input_dim (the embedding's width), got 512 (filled in by transformer_lm) and 128"),
    ("tied adaptive softmax of another width", "mem_transformer_lm_wiki103",
     {"decoder_output_dim": 512},
     "model.args.decoder_output_dim: tie_adaptive_weights needs decoder_input_dim 1024"),
    ("dropout above 1", "transformer", {"attention_dropout": 1.5},
     "model.args.attention_dropout: a probability, between 0 and 1, got 1.5"),
    ("negative layer drop", "transformer_lm", {"decoder_layerdrop": -0.1},
     "model.args.decoder_layerdrop: a probability, between 0 and 1, got -0.1"),
    ("the plugin's range", "mem_transformer", {"mem_init_std": -1},
     "model.args.mem_init_std: must be > 0, got -1"),
    ("the plugin's conflict: layer drop with ctrl", "mem_ctrl", {"encoder_layerdrop": 0.1},
     "model.args.encoder_layerdrop: --encoder-layerdrop is not supported with --mem-layout ctrl"),
    ("the plugin's conflict: hidden bottleneck", "mem_bottleneck_iwslt_de_en",
     {"mem_hide_from_decoder": True},
     "model.args.mem_hide_from_decoder: --mem-hide-from-decoder cannot be used"),
    ("the plugin's conflict: memory LM", "mem_transformer_lm", {"character_embeddings": True},
     "model.args.character_embeddings: --character-embeddings is not supported with memory"),
    ("no such architecture", "transformer_huge", {},
     "model.args: fairseq has no architecture 'transformer_huge'"),
]  # fmt: skip

# (case, train.extra_args, task, architecture (None: the task's baseline), the message's start)
TRAIN_CASES = [
    ("option and value in one string", ["--max-update 1000"], "translation", None,
     "train.extra_args: '--max-update 1000' is an option and its value in one string: give them "
     "as two items, ['--max-update', '1000']"),
    ("typo", ["--max-updat", "10"], "translation", None,
     "train.extra_args: --max-updat is not an option of fairseq-train (task translation, arch "
     "transformer, optimizer adam, lr-scheduler inverse_sqrt); did you mean --max-update?"),
    ("underscores", ["--update_freq", "2"], "translation", None,
     "train.extra_args: --update_freq is not an option of fairseq-train"),
    ("unknown option", ["--no-such-option"], "language_modeling", None,
     "train.extra_args: --no-such-option is not an option of fairseq-train (task stream_lm"),
    ("another task's option", ["--left-pad-source"], "language_modeling", None,
     "train.extra_args: --left-pad-source is not an option of fairseq-train (task stream_lm"),
    ("a memory option for the baseline", ["--mem-init-std", "0.5"], "translation", "transformer",
     "train.extra_args: --mem-init-std is not an option of fairseq-train (task translation, arch "
     "transformer"),
    ("bad choice", ["--optimizer", "sgdd"], "translation", None,
     "train.extra_args: --optimizer sgdd is not one of adadelta, adafactor"),
    ("bad choice, =", ["--ddp-backend=nccl"], "classification", None,
     "train.extra_args: --ddp-backend nccl is not one of c10d"),
    ("word for a number list", ["--update-freq", "two"], "translation", None,
     "train.extra_args: --update-freq two is not a value this option takes"),
    ("word for an integer, =", ["--max-epoch=x"], "translation", None,
     "train.extra_args: --max-epoch x is not an integer"),
    ("word for an integer", ["--batch-size", "thirty-two"], "classification", None,
     "train.extra_args: --batch-size thirty-two is not an integer"),
    ("word for a number", ["--mask-prob", "high"], "masked_lm", None,
     "train.extra_args: --mask-prob high is not a number"),
    ("missing value", ["--update-freq"], "translation", None,
     "train.extra_args: --update-freq: needs a value"),
    ("value without its option", ["2"], "translation", None,
     "train.extra_args: 2 is a value without an option"),
    ("value for a flag", ["--sentence-avg", "true"], "translation", None,
     "train.extra_args: true is a value without an option"),
    ("zero update frequency", ["--update-freq", "0"], "translation", None,
     "train.extra_args: --update-freq must be >= 1, got [0]"),
    ("zero batch size", ["--batch-size=0"], "classification", None,
     "train.extra_args: --batch-size must be >= 1, got 0"),
    ("a model's zero layers", ["--encoder-layers", "0"], "translation", "mem_ctrl",
     "train.extra_args: --encoder-layers must be >= 1, got 0"),
    ("a model's dropout above 1", ["--attention-dropout", "2"], "language_modeling", None,
     "train.extra_args: --attention-dropout is a probability, between 0 and 1, got 2.0"),
    ("another optimizer drops the pipeline's --adam-betas", ["--optimizer", "sgd"], "translation",
     None, "train.extra_args: --optimizer sgd: fairseq-train then refuses the pipeline's own "
     "--adam-betas (an option of --optimizer adam)"),
    ("another schedule drops the pipeline's --warmup-init-lr",
     ["--lr-scheduler", "polynomial_decay"], "language_modeling", None,
     "train.extra_args: --lr-scheduler polynomial_decay: fairseq-train then refuses the "
     "pipeline's own --warmup-init-lr"),
    ("short alias of --arch", ["-a", "transformer_lm"], "translation", None,
     "train.extra_args: -a sets --arch, which the pipeline sets itself; remove it"),
    ("help", ["--help"], "translation", None,
     "train.extra_args: --help prints fairseq-train's help and trains nothing"),
    ("pretrain section named", ["--max-updat", "1"], "masked_lm", None,
     "pretrain.extra_args: --max-updat is not an option of fairseq-train (task masked_lm"),
]  # fmt: skip


def refusal(check, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as err:
        check(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("arch", "args", "expected"), [c[1:] for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES]
)
def test_malformed_model_args_are_refused_in_one_line(arch, args, expected):
    message = refusal(check_model_args, arch, args)
    assert message.startswith(expected), message


@pytest.mark.parametrize(
    ("extra", "task", "arch", "expected"),
    [c[1:] for c in TRAIN_CASES],
    ids=[c[0] for c in TRAIN_CASES],
)
def test_malformed_extra_args_are_refused_in_one_line(extra, task, arch, expected):
    where = expected.split(":", 1)[0]
    message = refusal(check_train_options, extra, where, task, arch)
    assert message.startswith(expected), message


def test_the_field_is_named_as_the_caller_says():
    message = refusal(check_model_args, "transformer", {"encoder_layers": 0}, "pretrain.args")
    assert message.startswith("pretrain.args.encoder_layers: must be >= 1")


def test_the_cases_cover_every_layout_and_task():
    archs = {c[1].removesuffix("_iwslt_de_en") for c in MODEL_CASES}
    layouts = {*TRANSLATION_ARCH.values(), LM_MODEL, f"{ROBERTA_MODEL}_base"}
    assert {"transformer", "transformer_lm", "roberta_base", *layouts} <= archs
    tasks = {"translation", "language_modeling", "classification", "masked_lm"}
    assert {c[2] for c in TRAIN_CASES} == tasks
    assert len(MODEL_CASES) + len(TRAIN_CASES) >= 25


# -- what the pipeline passes today is accepted -----------------------------------------------
KIND_TASK = {"mt": "translation", "synthetic": "translation", "lm": "language_modeling",
             "glue": "classification"}  # fmt: skip
ARCH_PREFIX = {  # as memtr/tasks/*.py arch_prefix
    "translation": {"none": "transformer", **TRANSLATION_ARCH},
    "language_modeling": {"none": "transformer_lm", "prepend": LM_MODEL},
    "classification": {"none": "roberta", "prepend": ROBERTA_MODEL},
}


def arch(task: str, layout: str, size: str) -> str:
    """A variant's fairseq architecture as ``Task.arch`` names it (RoBERTa's sizes always
    carry their suffix: roberta_base)."""
    suffix = "" if size == "base" and task != "classification" else f"_{size}"
    return ARCH_PREFIX[task][layout] + suffix


def model_options(task: str, args: dict) -> dict:
    """``model.args`` as the train stage completes them (LanguageModeling.model_options: the
    input and output widths follow the embedding's)."""
    args = dict(args)
    if task == "language_modeling" and "decoder_embed_dim" in args:
        args.setdefault("decoder_input_dim", args["decoder_embed_dim"])
        args.setdefault("decoder_output_dim", args["decoder_embed_dim"])
    return args


def params_docs() -> list[tuple[str, dict]]:
    docs = [(p.relative_to(REPO).as_posix(), yaml.safe_load(p.read_text())) for p in PARAMS_FILES]
    return [*docs, ("tests/pipeline_helpers.py TINY_PARAMS", TINY_PARAMS)]


@pytest.mark.parametrize(("name", "doc"), params_docs(), ids=[n for n, _ in params_docs()])
def test_committed_params_and_presets_are_accepted(name, doc):
    task = KIND_TASK[DATASETS[doc["data"]["dataset"]].kind]
    size, args = doc["model"]["size"], doc["model"]["args"]
    archs = sorted({arch(task, v["layout"], size) for v in doc["variants"].values()})
    assert len(archs) >= 2, f"{name}: a baseline and a memory architecture"
    for variant_arch in archs:
        check_model_args(variant_arch, args)
        check_model_args(variant_arch, model_options(task, args))
        check_train_options(doc["train"]["extra_args"], task=task, arch=variant_arch)
    check_train_options(doc["train"]["extra_args"], task=task)
    if doc.get("pretrain", {}).get("name", "none") != "none":  # RoBERTa's masked LM, no memory
        check_model_args(arch(task, "none", size), args, "model.args")
        check_train_options(doc["pretrain"]["extra_args"], "pretrain.extra_args", "masked_lm")


@pytest.mark.parametrize(
    ("extra", "task", "arch_"),
    [
        (["--update-freq", "2"], "translation", None),  # params.yaml's own example
        (["--update-freq", "2", "--lr-scheduler", "cosine"], "translation", None),
        (["--optimizer", "adam", "--adam-eps", "1e-06"], "language_modeling", None),
        (["--max-epoch=3", "--sentence-avg"], "translation", None),
        (["--encoder-layerdrop", "0.1"], "translation", "mem_transformer"),
        (["--mem-init-std", "0.5"], "translation", "mem_ctrl"),
        (["--mem-bptt-segments", "2"], "language_modeling", LM_MODEL),
        (["--batch-size", "16", "--pooler-dropout", "0.2"], "classification", "mem_roberta_base"),
        ([], "masked_lm", "roberta_large"),
    ],
)
def test_legitimate_extra_args_are_accepted(extra, task, arch_):
    check_train_options(extra, task=task, arch=arch_)


def test_legitimate_model_args_are_accepted():
    flags = {"share_all_embeddings": True, "encoder_normalize_before": False}
    check_model_args("transformer", {**SMALL, **flags, "max_source_positions": None})
    check_model_args("mem_transformer_lm", {**LM_SMALL, "mem_bptt_segments": 2})
    check_model_args("transformer_lm_wiki103", {"decoder_layers": 4})
    check_model_args("mem_roberta_base", {"encoder_embed_dim": 120, "pooler_dropout": 0.0})
    check_model_args("mem_transformer", {"encoder-layers": 3})  # written with dashes
