"""The reliability probe of params.yaml as a table: malformed files built from kinds of mistake.

Each :class:`Case` is one malformed ``params.yaml`` (its text), the class of its mistake and
the field its one-line error must name. The cases are generated: every key of every section
left out (the required ones), beside a misspelt sibling, given a value of the wrong type,
and out of its range; combinations of keys that cannot go together; YAML that cannot be read,
or that YAML 1.1 (Snakemake) and YAML 1.2 (DVC) read apart; sections that are no mapping; and
the mistakes that only fairseq's own parsers see (``model.args``, ``extra_args``).
:func:`check` runs a file through the real check: the check stage's ``main`` in-process
(``workflow/scripts/check_params.py``: the loader, then fairseq's parsers).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import yaml
from pipeline_helpers import REPO, TINY_PARAMS

DELETE = object()

# the classes of the probe's table, in its order
MISSING, UNKNOWN, WRONG_TYPE, RANGE, CROSS = (
    "missing key", "unknown sibling", "wrong type", "out of range", "cross-key")  # fmt: skip
YAML, NON_MAPPING, FAIRSEQ = "YAML", "non-mapping", "fairseq option"
CLASSES = (MISSING, UNKNOWN, WRONG_TYPE, RANGE, CROSS, YAML, NON_MAPPING, FAIRSEQ)

# the other tasks' tiny params (tests/unit/test_params.py builds the same)
LM = copy.deepcopy(TINY_PARAMS)
LM["data"]["dataset"] = "wikitext2"
LM["model"]["args"] = {"decoder_layers": 1, "decoder_embed_dim": 32, "decoder_ffn_embed_dim": 64,
                       "decoder_attention_heads": 2}  # fmt: skip
LM["variants"]["mem4"]["recurrent"] = True
LM["train"].update(label_smoothing=0.0, tokens_per_sample=32)
LM["eval"] = {"splits": ["valid", "test"], "batch_size": 8, "bootstrap_resamples": 100}
GLUE = copy.deepcopy(LM)
GLUE["data"]["dataset"] = "glue_rte"
GLUE["model"]["args"] = {"encoder_layers": 1, "encoder_embed_dim": 32, "encoder_ffn_embed_dim": 64,
                         "encoder_attention_heads": 2}  # fmt: skip
del GLUE["variants"]["mem4"]["recurrent"]
GLUE["eval"]["splits"] = ["valid"]
PRETRAIN = {
    "name": "mlm", "corpus": "wikitext2", "bpe_merges": 100, "tokens_per_sample": 32,
    "dropout": 0.1, "max_update": 20, "max_tokens": 512, "lr": 0.001, "warmup_updates": 2,
    "weight_decay": 0.01, "mask_prob": 0.15, "validate_interval_updates": 10, "seed": 1,
    "extra_args": [],
}  # fmt: skip
PRETRAINED = copy.deepcopy(GLUE)
PRETRAINED["pretrain"] = PRETRAIN
PRETRAINED["data"].update(bpe="gpt2", gpt2_bpe="pretrain")
PRETRAINED["train"]["restore_file"] = "pretrain"
BASES = {"translation": TINY_PARAMS, "lm": LM, "glue": GLUE, "pretrain": PRETRAINED}


@dataclass(frozen=True)
class Case:
    """One malformed params file: its class, the field its error names, its text."""

    kind: str
    field: str
    name: str
    text: str


def edited(base: dict, path: str, value: object) -> dict:
    """``base`` with the dotted key ``path`` set to ``value`` (DELETE removes it)."""
    doc = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


def dump(doc: dict) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def _case(kind: str, base: str, path: str, value: object, field: str | None = None) -> Case:
    text = dump(edited(BASES[base], path, value))
    return Case(kind, field or path, f"{kind}:{base}:{path}={_short(value)}", text)


def _short(value: object) -> str:
    return "-" if value is DELETE else str(value).replace(" ", "")[:30]


def sections() -> list[tuple[str, str, dict[str, type | tuple]]]:
    """(base, dotted section, {key: its YAML kind}) of every section the probe edits."""
    from memtr.config.schema import field_kinds
    from memtr.datasets.params import CleanParams, DataParams, SyntheticParams
    from memtr.settings import (
        AttentionSettings,
        ExperimentSettings,
        ModelSettings,
        PretrainSettings,
        TrainSettings,
        Variant,
    )
    from memtr.specs.translation import TranslationEval

    def kinds(model, *left_out):
        required, optional = field_kinds(model, *left_out)
        return {**required, **optional}

    def dataclass_kinds(cls):
        return {f.name: type(getattr(cls(), f.name)) for f in fields(cls)}

    data = dataclass_kinds(DataParams)
    data.update(datasets=dict, mirror=str, gpt2_bpe=dict)
    return [
        ("translation", "data", data),
        ("translation", "data.clean", dataclass_kinds(CleanParams)),
        ("translation", "data.synthetic", dataclass_kinds(SyntheticParams)),
        ("translation", "model", kinds(ModelSettings)),
        ("translation", "variants.mem4", kinds(Variant, "name")),
        ("translation", "experiment", kinds(ExperimentSettings)),
        ("pretrain", "pretrain", kinds(PretrainSettings)),
        ("translation", "train", kinds(TrainSettings, "tokens_per_sample", "restore_file")),
        ("lm", "train", {"tokens_per_sample": int}),
        ("glue", "train", {"restore_file": str}),
        ("translation", "eval", kinds(TranslationEval)),
        ("translation", "attention", kinds(AttentionSettings)),
    ]


def _required(base: str, section: str) -> set[str]:
    """The keys of ``section`` that a file must write (dvc.yaml or the settings need them)."""
    from memtr.config.params import DATA_KEYS
    from memtr.config.schema import field_kinds
    from memtr.settings import (
        AttentionSettings,
        ExperimentSettings,
        ModelSettings,
        TrainSettings,
        Variant,
    )
    from memtr.specs.translation import TranslationEval

    models = {"model": ModelSettings, "variants.mem4": Variant, "experiment": ExperimentSettings,
              "train": TrainSettings, "eval": TranslationEval, "attention": AttentionSettings}  # fmt: skip
    if section == "data":
        return set(DATA_KEYS)
    if section == "pretrain":  # every key but precision, once a pre-training is named
        return set(PRETRAIN) - {"name"}
    if section == "train" and base == "lm":
        return {"tokens_per_sample"}
    if section in models and base == "translation":
        return set(field_kinds(models[section], "name")[0])
    return set()


WRONG = {int: "ten", float: "high", str: 5, list: "x", tuple: "x", dict: "x", bool: "maybe"}


def wrong_value(kind: type | tuple) -> object:
    kind = kind[0] if isinstance(kind, tuple) else kind
    return WRONG.get(kind, ["a", "list"])


def typo(key: str) -> str:
    """A misspelling of ``key``: its last two letters swapped (or one letter dropped)."""
    swapped = key[:-2] + key[-1] + key[-2]
    return swapped if swapped != key else key[:-1]


# out of range, by the section's dotted key: values that no run can use
RANGES: dict[tuple[str, str], list] = {
    ("translation", "data.dataset"): ["wmt99"],
    ("translation", "data.bpe"): ["wordpiece"],
    ("translation", "data.bpe_vocab_size"): [0],
    ("translation", "data.clean.min_len"): [0],
    ("translation", "data.clean.max_len"): [0],
    ("translation", "data.clean.ratio"): [0.5],
    ("translation", "data.clean.ratio_min_len"): [0],
    ("translation", "data.synthetic.task"): ["shuffle"],
    ("translation", "data.synthetic.train"): [0],
    ("translation", "data.synthetic.valid"): [0],
    ("translation", "data.synthetic.test"): [0],
    ("translation", "data.synthetic.vocab_size"): [0],
    ("translation", "data.synthetic.min_len"): [0],
    ("translation", "model.size"): ["huge"],
    ("translation", "variants.mem4.layout"): ["sideways"],
    ("translation", "variants.mem4.mem_tokens"): [-1, 2000],
    ("translation", "variants.mem4.max_update"): [0],
    ("translation", "experiment.name"): ["my results", "../../etc", ""],
    ("translation", "experiment.variants"): [[]],
    ("translation", "experiment.seeds"): [[], [-1]],
    ("pretrain", "pretrain.name"): ["my-mlm"],
    ("pretrain", "pretrain.bpe_merges"): [0],
    ("pretrain", "pretrain.tokens_per_sample"): [0],
    ("pretrain", "pretrain.dropout"): [1.0],
    ("pretrain", "pretrain.max_update"): [0],
    ("pretrain", "pretrain.max_tokens"): [0],
    ("pretrain", "pretrain.lr"): [0],
    ("pretrain", "pretrain.warmup_updates"): [-1],
    ("pretrain", "pretrain.weight_decay"): [-0.1],
    ("pretrain", "pretrain.mask_prob"): [0, 1.0],
    ("pretrain", "pretrain.validate_interval_updates"): [-1],
    ("pretrain", "pretrain.seed"): [-1],
    ("pretrain", "pretrain.precision"): ["fp8"],
    ("translation", "train.max_update"): [0, -5],
    ("translation", "train.max_tokens"): [0],
    ("translation", "train.lr"): [0, -0.1],
    ("translation", "train.warmup_updates"): [-1],
    ("translation", "train.dropout"): [1.0, -0.1],
    ("translation", "train.label_smoothing"): [1.0],
    ("translation", "train.weight_decay"): [-0.1],
    ("translation", "train.clip_norm"): [-1],
    ("translation", "train.validate_interval_updates"): [-1],
    ("translation", "train.threads"): [0],
    ("translation", "train.patience"): [0],
    ("translation", "train.precision"): ["fp8"],
    ("lm", "train.tokens_per_sample"): [0],
    ("translation", "eval.splits"): [["train"], []],
    ("translation", "eval.batch_size"): [0],
    ("translation", "eval.bootstrap_resamples"): [0],
    ("translation", "eval.extra_test"): [["newstest2015"], ["sacrebleu:wmt99"]],
    ("translation", "eval.equivalence_margin"): [0, -1],
    ("translation", "eval.beam"): [0],
    ("translation", "eval.max_len_a"): [-1],
    ("translation", "eval.max_len_b"): [-1],
    ("translation", "eval.sacrebleu_tokenize"): ["moses"],
    ("translation", "attention.num_sentences"): [0],
    ("translation", "attention.seeds"): [[], [-1]],
}

# keys that cannot go together: (base, path, value, the field the error names)
CROSS_KEYS = [
    ("translation", "train.warmup_updates", 30, "train.warmup_updates"),
    ("translation", "variants.mem4.max_update", 5, "variants.mem4.max_update"),
    ("translation", "experiment.reference", "mem99", "experiment.reference"),
    ("translation", "experiment.variants", ["baseline", "mem99"], "experiment.variants"),
    ("translation", "experiment.variants", ["baseline", "baseline"], "experiment.variants"),
    ("translation", "experiment.seeds", [1, 1], "experiment.seeds"),
    ("translation", "experiment.equal_compute", {"mem4": "nope"}, "experiment.equal_compute"),
    ("translation", "experiment.equal_compute", {"mem4": "mem4"}, "experiment.equal_compute"),
    ("translation", "attention.seeds", [7], "attention.seeds"),
    ("translation", "variants.baseline.mem_tokens", 4, "variants.baseline"),
    ("translation", "variants.mem4", {"layout": "ctrl", "mem_tokens": 0}, "variants.mem4"),
    ("translation", "variants.mem4.recurrent", True, "variants.mem4.recurrent"),
    ("translation", "train.tokens_per_sample", 64, "train.tokens_per_sample"),
    ("translation", "train.restore_file", "x.pt", "train.restore_file"),
    ("translation", "data.bpe", "gpt2", "data.bpe"),
    ("translation", "data.gpt2_bpe", "pretrain", "data.gpt2_bpe"),
    ("translation", "data.dataset", "wikitext2", "train.tokens_per_sample"),
    ("translation", "data.dataset", "newstest2014_de_en", "data.dataset"),
    ("translation", "data.clean", {"min_len": 5, "max_len": 3}, "data.clean"),
    ("translation", "data.synthetic", {"min_len": 9, "max_len": 3}, "data.synthetic"),
    ("translation", "eval.extra_test", ["newstest2014_de_en"] * 2, "eval.extra_test"),
    ("translation", "eval.extra_test", ["wikitext103_eval"], "eval.extra_test"),
    ("translation", "pretrain", PRETRAIN, "pretrain"),
    ("lm", "train.label_smoothing", 0.1, "train.label_smoothing"),
    ("lm", "variants.mem4.layout", "ctrl", "variants.mem4.layout"),
    ("lm", "model.size", "iwslt_de_en", "model.size"),
    ("lm", "train.restore_file", "x.pt", "train.restore_file"),
    ("lm", "eval.beam", 5, "eval.beam"),
    ("glue", "eval.splits", ["test"], "eval.splits"),
    ("glue", "variants.mem4.recurrent", True, "variants.mem4.recurrent"),
    ("glue", "train.restore_file", "pretrain", "train.restore_file"),
    ("pretrain", "pretrain.tokens_per_sample", 64, "train.tokens_per_sample"),
    ("pretrain", "pretrain.warmup_updates", 20, "pretrain.warmup_updates"),
    ("pretrain", "pretrain.corpus", "glue_sst2", "pretrain.corpus"),
    ("pretrain", "data.gpt2_bpe", {"encoder_json": "e.json", "vocab_bpe": "v.bpe"}, "data.gpt2_bpe"),
    ("pretrain", "pretrain.name", "none", "data.gpt2_bpe"),
]  # fmt: skip

# the mistakes that only fairseq's own parsers see (the check stage, memtr/run/option_checks.py)
FAIRSEQ_CASES = [
    ("translation", "model.args.encoder_layerz", 2, "model.args.encoder_layerz"),
    ("translation", "model.args.encoder_layers", "two", "model.args.encoder_layers"),
    ("translation", "model.args.encoder_layers", -1, "model.args.encoder_layers"),
    ("translation", "model.args.decoder_ffn_embed_dim", 0, "model.args.decoder_ffn_embed_dim"),
    ("translation", "model.args.encoder_attention_heads", 3, "model.args.encoder_embed_dim"),
    ("translation", "model.args.decoder_embed_dim", 48, "model.args.share_all_embeddings"),
    ("translation", "model.args.share_all_embeddings", "yes please", "model.args.share_all_embeddings"),
    ("translation", "model.args.dropout", 1.5, "model.args.dropout"),
    ("translation", "model.args.activation_fn", "swish", "model.args.activation_fn"),
    ("translation", "model.args.encoder_learned_pos", 3, "model.args.encoder_learned_pos"),
    ("lm", "model.args", {**LM["model"]["args"], "decoder_output_dim": 64,
                          "share_decoder_input_output_embed": True},
     "model.args.share_decoder_input_output_embed"),
    ("translation", "train.extra_args", ["--update-freq 2"], "train.extra_args"),
    ("translation", "train.extra_args", ["--updat-freq", "2"], "train.extra_args"),
    ("translation", "train.extra_args", ["--update-freq", "two"], "train.extra_args"),
    ("translation", "train.extra_args", ["--update-freq", "0"], "train.extra_args"),
    ("translation", "train.extra_args", ["--help"], "train.extra_args"),
    ("translation", "train.extra_args", ["-a", "lstm"], "train.extra_args"),
    ("translation", "train.extra_args", ["2"], "train.extra_args"),
    ("translation", "train.extra_args", ["--optimizer", "sgd"], "train.extra_args"),
    ("translation", "train.extra_args", ["--fp16"], "train.extra_args"),
    ("translation", "train.extra_args", ["--log-format", "simple"], "train.extra_args"),
    ("translation", "train.extra_args", ["--no-save"], "train.extra_args"),
    ("translation", "train.extra_args", ["--arch", "lstm"], "train.extra_args"),
    ("translation", "train.extra_args", ["--lr", "0.1"], "train.extra_args"),
    ("translation", "train.extra_args", ["--attention-dropout", "2"], "train.extra_args"),
    ("pretrain", "pretrain.extra_args", ["--mask-prob", "x"], "pretrain.extra_args"),
    ("pretrain", "pretrain.extra_args", ["--no-save"], "pretrain.extra_args"),
]  # fmt: skip

TOP = ("data", "model", "variants", "experiment", "pretrain", "train", "eval", "attention")


def _yaml_cases() -> Iterator[Case]:
    """Text no tool can read, or that YAML 1.1 and 1.2 read apart (the field: what the line
    names; a syntax error names the file and the line)."""
    good = dump(TINY_PARAMS)
    edits = [
        ("params.yaml", good.replace("  seeds:\n  - 1\n", "  seeds: [1,\n", 1)),
        ("params.yaml", good.replace("  max_update: 30\n", "  max_update: 30\n\tlr: 1\n", 1)),
        ("params.yaml", good.replace("train:\n", "train:\n max_update: 30\n", 1)),
        ("params.yaml", good + "---\ndata: {}\n"),
        ("params.yaml", good.replace("name: tiny", "name: 'tiny", 1)),
        ("params.yaml", good.replace("  dropout: 0.1\n", "  dropout: 0.1\n  - 0.2\n", 1)),
        ("params.yaml", "\x00" + good),
        ("params.yaml", good.replace("name: tiny", "name: *tiny", 1)),
        ("train.lr", good.replace("  lr: 0.003\n", "  lr: =\n", 1)),
        ("model.args", good.replace("  args:\n", "  args: !!python/object:dict\n", 1)),
        ("train.lr", good.replace("  lr: 0.003\n", "  lr: 0.003\n  dropout: 0.2\n  lr: 0.1\n", 1)),
        ("experiment.seeds[0]", good.replace("  - 1\n", "  - 010\n")),  # seed 8 or 10
        ("train.max_update", good.replace("max_update: 30", "max_update: 0o36", 1)),
        ("train.max_tokens", good.replace("max_tokens: 4096", "max_tokens: 04096", 1)),
        ("train.lr", good.replace("lr: 0.003", "lr: 3e-3", 1)),
        ("model.args.share_all_embeddings",
         good.replace("share_all_embeddings: true", "share_all_embeddings: yes", 1)),
        ("model.args.share_all_embeddings",
         good.replace("share_all_embeddings: true", "share_all_embeddings: on", 1)),
        ("data.synthetic.task", good.replace("task: reverse", "task: off", 1)),
        ("experiment.name", good.replace("name: tiny", "name: 1:30", 1)),
        ("experiment.name", good.replace("name: tiny", "name: 2020-01-01", 1)),
        ("eval.lenpen", good.replace("lenpen: 1.0", "lenpen: +.5", 1)),
        ("variants", good.replace("  mem4:\n", "  no:\n", 1).replace("- mem4", "- 'no'")),
    ]  # fmt: skip
    for i, (field, text) in enumerate(edits):
        yield Case(YAML, field, f"{YAML}:{i}:{field}", text)
    yield Case(YAML, "params.yaml", f"{YAML}:empty", "")
    yield Case(YAML, "params.yaml", f"{YAML}:comments only", "# nothing yet\n")
    yield Case(YAML, "params.yaml", f"{YAML}:a list", "- data\n- model\n")
    yield Case(YAML, "params.yaml", f"{YAML}:a scalar", "demo\n")


def _non_mapping_cases() -> Iterator[Case]:
    for section in TOP:
        for value in (["a", "list"], "text", None):
            if section == "pretrain" and value is None:
                continue  # pretrain: null is the committed campaigns' missing section
            yield _case(NON_MAPPING, "translation", section, value)
    for path in ("data.clean", "data.synthetic", "data.datasets", "model.args",
                 "variants.mem4", "experiment.equal_compute"):  # fmt: skip
        yield _case(NON_MAPPING, "translation", path, ["a", "list"])


def cases() -> list[Case]:
    """Every malformed file of the probe."""
    out: list[Case] = []
    seen: set[tuple[str, str]] = set()
    for base, section, kinds in sections():
        required = _required(base, section)
        for key, kind in kinds.items():
            path = f"{section}.{key}"
            if key in required:
                out.append(_case(MISSING, base, path, DELETE))
            value = _value_at(BASES[base], path)  # a misspelt sibling (beside the key, if set)
            sibling = edited(BASES[base], f"{section}.{typo(key)}", 1 if value is None else value)
            out.append(Case(UNKNOWN, f"{section}.{typo(key)}", f"{UNKNOWN}:{base}:{path}",
                            dump(sibling)))  # fmt: skip
            if (section, key) not in seen:
                seen.add((section, key))
                out.append(_case(WRONG_TYPE, base, path, wrong_value(kind)))
    for (base, path), values in RANGES.items():
        out += [_case(RANGE, base, path, v) for v in values]
    out += [_case(CROSS, base, path, value, field) for base, path, value, field in CROSS_KEYS]
    out += list(_yaml_cases())
    out += list(_non_mapping_cases())
    out += [_case(MISSING, "translation", section, DELETE) for section in TOP]
    out.append(Case(UNKNOWN, "trian", f"{UNKNOWN}:section", dump({**TINY_PARAMS, "trian": {}})))
    out += [_case(FAIRSEQ, base, path, value, field) for base, path, value, field in FAIRSEQ_CASES]
    names = Counter(c.name for c in out)
    return [
        c if names[c.name] == 1 else Case(c.kind, c.field, f"{c.name}#{i}", c.text)
        for i, c in enumerate(out)
    ]


def _value_at(doc: dict, path: str) -> object:
    node: object = doc
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


@dataclass(frozen=True)
class Outcome:
    """What the check made of a case: its exit (``refused``, ``accepted``, ``crashed``) and
    what it printed."""

    status: str
    message: str


def _check_stage() -> Callable[[argparse.Namespace], None]:
    path = REPO / "workflow" / "scripts" / "check_params.py"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("check_params_stage", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def check(case: Case, folder: Path) -> Outcome:
    """Run ``case`` through the check stage's own ``main`` (loader, then fairseq's parsers)."""
    from memtr.common.errors import ConfigError

    main = globals().setdefault("_MAIN", None) or _check_stage()
    globals()["_MAIN"] = main
    params = folder / "params.yaml"
    params.write_text(case.text)
    out = folder / "params.ok"
    try:
        main(argparse.Namespace(params=params, out=out, quiet=True))
    except ConfigError as exc:
        return Outcome("refused", f"error: {exc}")
    except Exception as exc:  # a traceback for the user: unclear
        return Outcome("crashed", f"{type(exc).__name__}: {exc}")
    return Outcome("accepted", "")


def verdict(case: Case, outcome: Outcome) -> str:
    """``clear`` (one line naming the field), ``unclear`` or ``accepted``."""
    if outcome.status == "accepted":
        return "accepted"
    line = outcome.message
    clear = outcome.status == "refused" and "\n" not in line and case.field in line
    return "clear" if clear else "unclear"


def table(rows: list[tuple[Case, str]]) -> str:
    """The count table per class: cases, clear, unclear, accepted."""
    counts = {k: Counter() for k in CLASSES}
    for case, result in rows:
        counts[case.kind][result] += 1
    lines = ["| class | files | one line naming the field | unclear | accepted |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for kind in CLASSES:
        c = counts[kind]
        lines.append(f"| {kind} | {sum(c.values())} | {c['clear']} | {c['unclear']} | "
                     f"{c['accepted']} |")  # fmt: skip
    total = Counter()
    for c in counts.values():
        total.update(c)
    lines.append(f"| all | {sum(total.values())} | {total['clear']} | {total['unclear']} | "
                 f"{total['accepted']} |")  # fmt: skip
    return "\n".join(lines) + "\n"
