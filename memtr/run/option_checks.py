"""fairseq's own parsers as params checks: ``model.args`` against the options of a variant's
architecture, ``train.extra_args`` against fairseq-train's parser, before any stage runs.

Each check raises a :class:`~memtr.common.errors.ConfigError` of one line that names the
params field (``model.args.encoder_layers: two is not an integer``) instead of the usage
text that fairseq-train prints at the train stage, after every data stage. Beyond what the
parser refuses, :func:`check_model_args` refuses the values that fairseq takes on trust and
fails on later, or trains without a word: counts below 1 (``encoder_layers: -1`` trains a
model with no encoder layers), a width its attention heads do not divide, shared embeddings
of unequal widths, a dropout outside [0, 1], and the plugin's own memory-option conflicts.

fairseq is imported on the first call (about 3 s of CPU, torch included); a call then takes
a few milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import functools
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from memtr.common.errors import ConfigError

# Widths and counts that must be >= 1 (fairseq builds a model with none of them otherwise)
COUNTS = tuple(
    f"{side}_{name}"
    for side in ("encoder", "decoder")
    for name in ("layers", "attention_heads", "embed_dim", "ffn_embed_dim")
) + ("decoder_input_dim", "decoder_output_dim")
# ... and fairseq-train's own (batches of none, or no update at all)
TRAIN_COUNTS = ("update_freq", "batch_size", "batch_size_valid", "required_batch_size_multiple",
                "max_tokens_valid")  # fmt: skip
PROBABILITY = re.compile(r"(dropout|layerdrop)$")  # torch refuses p outside [0, 1] mid-run

# What the pipeline itself passes to fairseq-train before ``extra_args``, as far as it decides
# which options exist: the fairseq task's criterion, the baseline architecture, and the
# optimizer and learning-rate schedule with the options the pipeline gives them (from
# memtr/run/training.py train_command, memtr/run/pretrain.py pretrain_command and each task's
# fairseq_args). An ``extra_args`` that switches the optimizer or the schedule leaves those
# options to a choice that has none: fairseq-train refuses them.
ADAM = ("--optimizer", "adam", ("--adam-betas", "(0.9, 0.98)"))
INVERSE_SQRT = ("--lr-scheduler", "inverse_sqrt",
                ("--warmup-updates", "1", "--warmup-init-lr", "1e-07"))  # fmt: skip
POLYNOMIAL = ("--lr-scheduler", "polynomial_decay",
              ("--warmup-updates", "1", "--total-num-update", "1"))  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    """The choices the pipeline makes for one fairseq task (see the comment above)."""

    criterion: str
    arch: str  # the baseline: extra_args apply to every variant
    choices: tuple[tuple[str, str, tuple[str, ...]], ...] = (ADAM, INVERSE_SQRT)


PIPELINE_RUNS = {
    "translation": PipelineRun("label_smoothed_cross_entropy", "transformer"),
    "stream_lm": PipelineRun("cross_entropy", "transformer_lm"),
    "sentence_prediction": PipelineRun("sentence_prediction", "roberta_base"),
    "masked_lm": PipelineRun("masked_lm", "roberta_base", (  # the pretrain stage
        ("--optimizer", "adam", ("--adam-betas", "(0.9, 0.98)", "--adam-eps", "1e-06")),
        POLYNOMIAL,
    )),
}  # fmt: skip
# the pipeline's task names (memtr.tasks) -> the fairseq task their training runs
FAIRSEQ_TASKS = {"language_modeling": "stream_lm", "classification": "sentence_prediction"}
DATA = "data-bin"  # fairseq-train's positional data folder; parsing never opens it


@functools.cache
def _fairseq() -> Any:
    """fairseq's options module, with the plugin's models and tasks registered."""
    from fairseq import options

    import fairseq_plugins  # noqa: F401  (registers the memory architectures, stream_lm)

    return options


def _parse(parse: Any) -> tuple[Any, str | None]:
    """Run ``parse()`` (an argparse parse): (its result, None), or (None, argparse's error
    message) when it exits; ``"help"`` when it printed a help text."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
            return parse(), None
    except SystemExit as exit_:
        if not exit_.code:
            return None, "help"
        lines = printed.getvalue().strip().splitlines() or ["(no message)"]
        return None, lines[-1].split(" error: ", 1)[-1]


def _line(exc: BaseException) -> str:  # an exception's message on one line
    return " ".join(str(exc).split()) or type(exc).__name__


def _show(value: object) -> str:
    """A value as params wrote it; quoted when it would not read as one word."""
    text = str(value)
    return text if text and not any(c.isspace() for c in text) else repr(text)


def _value_error(text: str) -> str:
    """argparse's complaint about a value, as the rest of a sentence starting with the value:
    ``invalid int value: 'two'`` -> ``two is not an integer``."""
    kinds = {"int": "an integer", "float": "a number"}
    if m := re.fullmatch(r"invalid choice: '(.*)' \(choose from (.*)\)", text):
        choices = m[2].replace("'", "").split(", ")
        more = f", ... ({len(choices) - 12} more)" if len(choices) > 12 else ""
        return f"{_show(m[1])} is not one of {', '.join(choices[:12])}{more}"
    if m := re.fullmatch(r"invalid (\S+) value: '(.*)'", text):
        return f"{_show(m[2])} is not {kinds.get(m[1], 'a value this option takes')}"
    if text == "expected one argument":
        return "needs a value"
    return text


def _argument_error(message: str) -> tuple[list[str], str] | None:
    """(option names, complaint) of argparse's ``argument --a/-b: complaint``, else None."""
    m = re.fullmatch(r"argument (\S+): (.*)", message)
    return (m[1].split("/"), m[2]) if m else None


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
    return f"; did you mean {close[0]}?" if close else ""


# -- model.args -----------------------------------------------------------------------------
def check_model_args(arch: str, args: Mapping[str, object], where: str = "model.args") -> None:
    """Refuse ``args`` (``model.args``) for the fairseq architecture ``arch``, as the train
    stage passes them (``key: v`` -> ``--key v``, ``true`` -> the bare flag, ``false`` and
    null left out): an option the architecture does not have, a value its parser refuses,
    and the values fairseq takes but cannot train (see the module docstring). The widths
    left out are the architecture's, as fairseq fills them in. A ConfigError of one line
    naming ``<where>.<key>``."""
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    _fairseq()
    if arch not in ARCH_MODEL_REGISTRY:
        raise ConfigError(f"{where}: fairseq has no architecture {arch!r}")
    model = ARCH_MODEL_REGISTRY[arch]
    parser = argparse.ArgumentParser(
        prog=arch, add_help=False, allow_abbrev=False, argument_default=argparse.SUPPRESS
    )
    model.add_args(parser)
    tokens = _model_tokens(parser, args, arch, where)
    namespace, error = _parse(lambda: parser.parse_args(tokens))
    if error is not None:
        flags = {f"--{key.replace('_', '-')}": key for key in args}
        parts = _argument_error(error)
        key = next((flags[n] for n in parts[0] if n in flags), None) if parts else None
        if parts and key is not None:
            raise ConfigError(f"{where}.{key}: {_value_error(parts[1])}")
        raise ConfigError(f"{where}: {error} (fairseq's options of {arch})")
    try:
        ARCH_CONFIG_REGISTRY[arch](namespace)
    except Exception as exc:  # an architecture function that cannot read a value
        raise ConfigError(f"{where}: {arch} cannot take these options: {_line(exc)}") from None
    _fill_config_defaults(namespace, model)
    given = {key.replace("-", "_") for key in args}
    for check in (_check_counts, _check_heads, _check_shared, _check_memory):
        check(namespace, given, arch, where)


def _model_tokens(
    parser: argparse.ArgumentParser, args: Mapping[str, object], arch: str, where: str
) -> list[str]:
    """``args`` as the train stage writes them on fairseq's command line; a ConfigError for
    a key that is no option of ``arch``, or a value that cannot be written as one."""
    known = parser._option_string_actions  # argparse's own table: flag -> action
    tokens: list[str] = []
    for key, value in args.items():
        flag = "--" + str(key).replace("_", "-")
        action = known.get(flag)
        if action is None:
            names = [o[2:].replace("-", "_") for o in known if o.startswith("--")]
            hint = _suggest(str(key).replace("-", "_"), names)
            raise ConfigError(f"{where}.{key}: not an option of {arch}{hint}")
        if value is None:
            continue
        if action.nargs == 0:  # a flag: true writes it, false leaves it out
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: a flag (true or false), got {_show(value)}")
            tokens += [flag] if value else []
        elif isinstance(value, bool):
            if not (value and action.nargs == "?"):
                raise ConfigError(f"{where}.{key}: takes a value, got {str(value).lower()}")
            tokens.append(flag)
        else:
            tokens += [flag, str(value)]
    return tokens


def _fill_config_defaults(namespace: argparse.Namespace, model: Any) -> None:
    """The defaults of a model's config dataclass that its architecture function leaves to
    fairseq (``transformer_lm``'s own function sets none): what the built model gets."""
    config = getattr(model, "__dataclass", None)
    if config is None:
        return
    for f in dataclasses.fields(config):
        if hasattr(namespace, f.name) or f.name.startswith("_"):
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if not (isinstance(default, str) and default.startswith("${")):  # not an interpolation
            setattr(namespace, f.name, default)


def _origin(key: str, given: set[str], arch: str) -> str:
    return "" if key in given else f" (filled in by {arch})"


def _check_counts(ns: argparse.Namespace, given: set[str], arch: str, where: str) -> None:
    for key in COUNTS:
        value = getattr(ns, key, None)
        if isinstance(value, int) and value < 1:
            raise ConfigError(
                f"{where}.{key}: must be >= 1, got {value}{_origin(key, given, arch)}"
            )
    for key, value in sorted(vars(ns).items()):
        if PROBABILITY.search(key) and isinstance(value, int | float) and not 0 <= value <= 1:
            raise ConfigError(f"{where}.{key}: a probability, between 0 and 1, got {value}")


def _check_heads(ns: argparse.Namespace, given: set[str], arch: str, where: str) -> None:
    """Each side's embedding width splits evenly over its attention heads (fairseq asserts
    it only when it builds the model, after the data stages)."""
    for side in ("encoder", "decoder"):
        dim_key, heads_key = f"{side}_embed_dim", f"{side}_attention_heads"
        dim, heads = getattr(ns, dim_key, None), getattr(ns, heads_key, None)
        if not isinstance(dim, int) or not isinstance(heads, int) or dim % heads == 0:
            continue
        dim_text = f"{dim_key} {dim}{_origin(dim_key, given, arch)}"
        heads_text = f"{heads_key} {heads}{_origin(heads_key, given, arch)}"
        if heads_key in given and dim_key not in given:
            raise ConfigError(f"{where}.{heads_key}: {heads} must divide {dim_text}")
        raise ConfigError(
            f"{where}.{dim_key}: {dim_text.split(' ', 1)[1]} must be divisible by {heads_text}"
        )


def _check_shared(ns: argparse.Namespace, given: set[str], arch: str, where: str) -> None:
    """Shared embeddings have one width: fairseq refuses unequal encoder and decoder widths
    when it builds the model; a shared output embedding of another width than the decoder's
    output fails at the first batch (a matrix product of mismatched shapes)."""
    get = functools.partial(getattr, ns)
    if get("share_all_embeddings", False):
        enc, dec = get("encoder_embed_dim", None), get("decoder_embed_dim", None)
        if enc != dec:
            raise ConfigError(
                f"{where}.share_all_embeddings: needs encoder_embed_dim and "
                f"decoder_embed_dim equal, got {enc} and {dec}"
            )
        if get("decoder_embed_path", None) not in (None, get("encoder_embed_path", None)):
            raise ConfigError(
                f"{where}.share_all_embeddings: not compatible with a "
                "decoder_embed_path other than encoder_embed_path"
            )
    lm = hasattr(ns, "decoder_output_dim") and not hasattr(ns, "encoder_embed_dim")
    if lm and get("tie_adaptive_weights", False):
        _check_tied_adaptive(ns, given, arch, where)
    shares = [
        k for k in ("share_decoder_input_output_embed", "share_all_embeddings") if get(k, False)
    ]
    if not shares or get("adaptive_softmax_cutoff", None) or not hasattr(ns, "decoder_output_dim"):
        return  # an adaptive softmax ties its own weights
    # the embedding's width: an LM embeds at decoder_input_dim, a translation model at its dim
    width_key = "decoder_input_dim" if lm else "decoder_embed_dim"
    width, out = get(width_key, None), get("decoder_output_dim")
    if width is not None and width != out:
        field = next((k for k in shares if k in given), shares[0])
        raise ConfigError(
            f"{where}.{field}: needs decoder_output_dim equal to {width_key} (the embedding's "
            f"width), got {out}{_origin('decoder_output_dim', given, arch)} and "
            f"{width}{_origin(width_key, given, arch)}"
        )


def _check_tied_adaptive(ns: argparse.Namespace, given: set[str], arch: str, where: str) -> None:
    """fairseq's asserts (transformer_lm build_model) on a tied adaptive input and softmax."""
    if not getattr(ns, "adaptive_input", False):
        raise ConfigError(f"{where}.tie_adaptive_weights: needs adaptive_input true")
    for a, b in (("adaptive_input_factor", "adaptive_softmax_factor"),
                 ("adaptive_input_cutoff", "adaptive_softmax_cutoff"),
                 ("decoder_input_dim", "decoder_output_dim")):  # fmt: skip
        va, vb = getattr(ns, a, None), getattr(ns, b, None)
        if va != vb:
            field = next((k for k in (b, a) if k in given), "tie_adaptive_weights")
            raise ConfigError(
                f"{where}.{field}: tie_adaptive_weights needs {a} {va}{_origin(a, given, arch)} "
                f"equal to {b} {vb}{_origin(b, given, arch)}"
            )


def _check_memory(ns: argparse.Namespace, given: set[str], arch: str, where: str) -> None:
    """The plugin's own checks of its memory options against the other options (run when it
    builds the model). The variant decides ``--mem-tokens`` and ``--mem-recurrent``; they are
    taken here as any variant may set them, so that only conflicts within ``args`` count."""
    from fairseq_plugins.modules.mem_encoder import MemoryConfigError, validate_memory_options
    from fairseq_plugins.modules.mem_lm_decoder import validate_lm_memory_options

    if not hasattr(ns, "mem_tokens"):
        return
    variant = argparse.Namespace(**{**vars(ns), "mem_tokens": 1, "mem_recurrent": True})
    try:
        (validate_memory_options if hasattr(ns, "mem_layout") else validate_lm_memory_options)(
            variant
        )
    except MemoryConfigError as err:
        named = [k for k in re.findall(r"--([a-z-]+)", str(err)) if k.replace("-", "_") in given]
        field = f".{named[0].replace('-', '_')}" if named else ""
        raise ConfigError(f"{where}{field}: {err} ({arch})") from None


# -- train.extra_args -----------------------------------------------------------------------
def check_train_options(
    extra_args: Sequence[str],
    where: str = "train.extra_args",
    task: str = "translation",
    arch: str | None = None,
) -> None:
    """Parse ``extra_args`` with fairseq-train's own parser, after the options the pipeline
    passes that decide which options exist (:data:`PIPELINE_RUNS`): the fairseq ``task``
    (``translation``, ``stream_lm``, ``sentence_prediction``, ``masked_lm``; the pipeline's
    ``language_modeling`` and ``classification`` name theirs), its criterion, the optimizer
    and schedule, and ``arch`` (default: the task's baseline; a variant's architecture adds
    its own options). Refuse, in one line naming ``where`` and the argument: an unknown
    option or a typo (fairseq takes no abbreviations), an option and its value given as one
    string, a value the parser refuses, a value without its option, ``--help``, a choice
    that drops an option the pipeline passes, a count below 1 (``--update-freq 0``, a model's
    ``--encoder-layers 0``) or a dropout outside [0, 1], and a short alias (``-a``) of an
    option the pipeline sets. The options that the pipeline sets or that break it are
    refused before, by name (memtr.config.schema.check_extra_args)."""
    from fairseq.models import ARCH_MODEL_REGISTRY

    options = _fairseq()
    fairseq_task = FAIRSEQ_TASKS.get(task, task)
    run = PIPELINE_RUNS.get(fairseq_task)
    if run is None:
        raise ValueError(f"no fairseq-train options known for task {task!r}")
    arch = arch or run.arch
    if arch not in ARCH_MODEL_REGISTRY:
        raise ValueError(f"fairseq has no architecture {arch!r}")
    prefix = [DATA, "--task", fairseq_task, "--arch", arch, "--criterion", run.criterion]
    for option, value, own in run.choices:
        prefix += [option, value, *own]
    parser = options.get_training_parser(default_task=fairseq_task)
    try:
        parsed, error = _parse(
            lambda: options.parse_args_and_arch(parser, [*prefix, *extra_args], parse_known=True)
        )
    except Exception as exc:  # fairseq's own checks after parsing (e.g. --fp16 with --bf16)
        raise ConfigError(f"{where}: fairseq-train refuses these options: {_line(exc)}") from None
    if error is not None:
        raise ConfigError(f"{where}: {_train_error(error, extra_args)}")
    namespace, unknown = parsed
    if unknown:
        raise ConfigError(f"{where}: {_unknown(unknown[0], extra_args, run, parser, namespace)}")
    for option, wanted in (("task", fairseq_task), ("arch", arch), ("criterion", run.criterion)):
        if getattr(namespace, option) != wanted:  # e.g. -a, which check_extra_args does not read
            given = next((a for a in extra_args[::-1] if _dest(parser, a) == option), f"--{option}")
            raise ConfigError(
                f"{where}: {given} sets --{option}, which the pipeline sets itself; remove it"
            )
    _check_train_values(namespace, parser, extra_args, where)


def _check_train_values(ns: Any, parser: Any, extra_args: Sequence[str], where: str) -> None:
    """What fairseq-train takes on trust from ``extra_args``: a count below 1 (a model's too:
    model options given here replace model.args), a probability outside [0, 1]."""
    for argument in extra_args:
        dest = _dest(parser, argument)
        if dest is None:
            continue
        value, option = getattr(ns, dest, None), argument.split("=", 1)[0]
        values = value if isinstance(value, list) else [value]  # --update-freq: one per epoch
        if dest in (*COUNTS, *TRAIN_COUNTS) and any(isinstance(v, int) and v < 1 for v in values):
            raise ConfigError(f"{where}: {option} must be >= 1, got {value}")
        if PROBABILITY.search(dest) and isinstance(value, int | float) and not 0 <= value <= 1:
            raise ConfigError(f"{where}: {option} is a probability, between 0 and 1, got {value}")


def _dest(parser: Any, argument: str) -> str | None:
    """The option (its attribute) that ``argument`` of a command line names, if any."""
    action = parser._option_string_actions.get(argument.split("=", 1)[0])
    return action.dest if action is not None else None


def _train_error(error: str, extra_args: Sequence[str]) -> str:
    """argparse's complaint about ``extra_args``, led by the option as the user wrote it."""
    if error == "help":
        return "--help prints fairseq-train's help and trains nothing; remove it"
    parts = _argument_error(error)
    if parts is None:
        return error
    names, complaint = parts
    written = [a.split("=", 1)[0] for a in extra_args]
    option = next((n for n in names if n in written), names[0])
    sentence = _value_error(complaint)
    if sentence == complaint or sentence == "needs a value":
        return f"{option}: {sentence}"
    return f"{option} {sentence}"


def _unknown(
    token: str, extra_args: Sequence[str], run: PipelineRun, parser: Any, namespace: Any
) -> str:
    """Why fairseq-train does not know ``token``, its first unrecognized argument."""
    if token not in extra_args:  # one of the pipeline's own, left without its choice
        for option, value, own in run.choices:
            if token in own:
                chosen = getattr(namespace, option[2:].replace("-", "_"))
                return (
                    f"{option} {chosen}: fairseq-train then refuses the pipeline's own "
                    f"{token} (an option of {option} {value}); keep {value}"
                )
        return f"fairseq-train refuses the pipeline's {token} with these options"
    if token.startswith("-") and " " in token:
        return (
            f"{token!r} is an option and its value in one string: give them as two "
            f"items, {token.split()!r}"
        )
    if token.startswith("-"):
        name = token.split("=", 1)[0]
        known = [o for o in parser._option_string_actions if o.startswith("--")]
        context = (
            f"task {namespace.task}, arch {namespace.arch}, optimizer "
            f"{namespace.optimizer}, lr-scheduler {namespace.lr_scheduler}"
        )
        return f"{name} is not an option of fairseq-train ({context}){_suggest(name, known)}"
    return f"{token} is a value without an option (the option before it takes none)"
