"""Interventions on the memory at inference, each decoded and scored as the evaluate stage does.

For a translation checkpoint and a binarized split: the interventions the model defines
(``fairseq_plugins/modules/intervention.py``: none, zero, swap, mean, hide, knockout of each
slot, remove; which ones depends on the layout), each decoded by fairseq-generate in this
process with the evaluate stage's options (``memtr.tasks.translation.generate_args``: beam,
length penalty, limits, batches, post-processing) and the intervention as a model override,
then scored with sacrebleu as the evaluate stage scores (``memtr.scoring.translation.score``).

``none`` passes no override: its hypotheses are the evaluate stage's. ``swap`` gives each
sentence the memory of its neighbour in fairseq-generate's batch (sentences sorted by length,
``eval.batch_size`` a batch), so of a sentence of about its length; the last batch, when it
holds one sentence, keeps its own. ``mean`` reads the mean memory outputs of the same split
(``memory_mean``), written beside the hypotheses (``memory_mean.npy``).

One hypothesis file per intervention (``hyps.<name>.txt``, ``knockout=3`` as ``knockout3``),
line ``i`` for sentence ``i``, so that the paired bootstrap over sentences
(``memtr.stats.paired_bootstrap`` through ``memtr.scoring.translation.paired_bootstrap_bleu``)
compares each intervention with the intact model, over seeds (``paired_effects``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fairseq_plugins.modules.intervention import (
    Intervention,
    check_intervention,
    defined_interventions,
)
from memtr.analysis.models import batches, load_model, to_device
from memtr.common.textio import read_lines
from memtr.scoring.translation import paired_bootstrap_bleu, score
from memtr.specs.translation import TranslationEval

MEAN_FILE = "memory_mean.npy"
TABLE_FILE = "interventions.csv"
INTACT = "none"


def memory_of(model: Any) -> tuple[str, int, bool, int]:
    """(layout, memory slots, hidden from the decoder, model dim C) of a translation model;
    fairseq's ``transformer`` reads as layout ``none`` with no memory."""
    encoder = model.encoder
    return (
        getattr(encoder, "layout", "none"),
        getattr(encoder, "num_memory", 0),
        bool(getattr(encoder, "hide_memory_from_decoder", False)),
        encoder.embed_tokens.embedding_dim,
    )


def intervention_specs(model: Any) -> list[str]:
    """The interventions ``model`` defines, ``none`` first and ``knockout`` as one per slot
    (``knockout=0`` .. ``knockout=m-1``)."""
    layout, m, hidden, _ = memory_of(model)
    specs = []
    for name in defined_interventions(layout, m, hidden):
        specs.extend([f"knockout={k}" for k in range(m)] if name == "knockout" else [name])
    return specs


def check_specs(model: Any, specs: Sequence[str]) -> None:
    """An InterventionError naming the first of ``specs`` that ``model`` does not define
    (before any decoding)."""
    layout, m, hidden, dim = memory_of(model)
    for spec in specs:
        mean = torch.zeros(m, dim) if spec == "mean" else None  # its shape is checked later
        check_intervention(Intervention.parse(spec, mean), layout, m, hidden, dim)


@torch.no_grad()
def memory_mean(model: Any, task: Any, split: str, batch_size: int) -> np.ndarray:
    """Each memory slot's output where the decoder reads it, averaged over the sentences of
    ``split``: (m, C) float32 (the intact model's: an intervention set on it is ignored)."""
    encoder = model.encoder
    m, device = encoder.num_memory, next(model.parameters()).device
    saved, encoder.intervention = encoder.intervention, None
    total, count = torch.zeros(m, encoder.embed_tokens.embedding_dim, dtype=torch.float64), 0
    try:
        for sample in batches(task, split, batch_size):
            net_input = to_device(sample, device)["net_input"]
            out = encoder(net_input["src_tokens"], net_input["src_lengths"])
            memory = out["encoder_out"][0][:m]  # (m, B, C), memory first
            total += memory.double().sum(dim=1).cpu()  # (m, C)
            count += memory.size(1)
    finally:
        encoder.intervention = saved
    return (total / count).float().numpy()


def overrides(spec: str, mean_file: Path | None) -> dict[str, str]:
    """The model options that ask the plugin for intervention ``spec`` (none for ``none``)."""
    if spec == INTACT:
        return {}
    extra = {"mem_intervention_mean": str(mean_file)} if spec == "mean" else {}
    return {"mem_intervention": spec, **extra}


def decode(checkpoint: Path, data: Path, split: str, ev: TranslationEval, spec: str,
           mean_file: Path | None = None, bpe: bool = True, threads: int = 1) -> list[str]:  # fmt: skip
    """Hypotheses of ``split`` in corpus order, decoded as the evaluate stage decodes them,
    under intervention ``spec``."""
    from memtr.run.fairseq import generate_in_process
    from memtr.tasks.translation import generate_args, hypotheses

    args = generate_args(checkpoint, data, split, ev, bpe)
    if options := overrides(spec, mean_file):
        args += ["--model-overrides", repr(options)]
    try:
        return hypotheses(generate_in_process(args, threads))
    except Exception as exc:  # fairseq's own errors: one line naming the split and intervention
        raise RuntimeError(
            f"fairseq-generate failed on {data}/{split} under {spec}: {exc}"
        ) from exc


def hyps_file(folder: Path, spec: str) -> Path:
    """Where the hypotheses of intervention ``spec`` are written in ``folder``."""
    return folder / f"hyps.{spec.replace('=', '')}.txt"


def read_hypotheses(folder: Path, spec: str) -> list[str]:
    return list(read_lines(hyps_file(folder, spec)))


def run_interventions(
    checkpoint: Path,
    data: Path,
    split: str,
    refs: Sequence[str],
    ev: TranslationEval,
    out: Path,
    specs: Sequence[str] | None = None,
    bpe: bool = True,
    threads: int = 1,
) -> pd.DataFrame:
    """Decode ``split`` under each intervention (all the model defines when ``specs`` is
    None, else ``specs``, checked before any decoding) and score it against ``refs``.

    Writes into ``out``: ``hyps.<name>.txt`` per intervention, ``memory_mean.npy`` when
    ``mean`` is among them, and ``interventions.csv``: one row per intervention, in order,
    with the evaluate stage's scores (bleu, chrf, signatures, sentences). Returns that table.
    """
    model, task = load_model(checkpoint, data)
    specs = list(specs) if specs is not None else intervention_specs(model)
    check_specs(model, specs)
    out.mkdir(parents=True, exist_ok=True)
    mean_file = None
    if "mean" in specs:
        mean_file = out / MEAN_FILE
        np.save(mean_file, memory_mean(model, task, split, ev.batch_size))
    del model, task
    rows = []
    for spec in specs:
        hyps = decode(checkpoint, data, split, ev, spec, mean_file, bpe, threads)
        hyps_file(out, spec).write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
        rows.append({"intervention": spec, **score(hyps, list(refs), ev.sacrebleu_tokenize)})
    table = pd.DataFrame(rows)
    table.to_csv(out / TABLE_FILE, index=False)
    return table


def paired_effects(hyps: Mapping[str, Sequence[Sequence[str]]], refs: Sequence[str],
                   tokenize: str, resamples: int) -> pd.DataFrame:  # fmt: skip
    """Each intervention against the intact model: ``hyps`` maps an intervention (``none``
    among them) to its hypotheses per seed (seed s of every intervention from one model);
    one row per intervention but ``none``, with the mean BLEU difference over seeds
    (``delta``, intervention minus intact) and the two-sided p of the paired bootstrap over
    sentences (``memtr.stats.paired_bootstrap``, the same resampled sentences for all)."""
    if INTACT not in hyps:
        raise ValueError("paired effects need the intact model's hypotheses (none)")
    intact = [list(h) for h in hyps[INTACT]]
    rows = []
    for spec, system in hyps.items():
        if spec == INTACT:
            continue
        result = paired_bootstrap_bleu([list(h) for h in system], intact, list(refs),
                                       tokenize, resamples)  # fmt: skip
        rows.append({"intervention": spec, "seeds": len(intact), **result})
    return pd.DataFrame(rows, columns=["intervention", "seeds", "delta", "p"])
