"""Interventions on the memory at inference, where the decoder reads it (translation layouts).

An intervention changes what the decoder's cross-attention reads of the memory, or whether
the encoder has a memory at all, and nothing else; the model's weights are untouched. Set one
on a ``MemTransformerEncoder`` (``encoder.set_intervention``), or ask fairseq-generate for one
through the model options it overrides (``--model-overrides``, see ``from_model_options``)::

    fairseq-generate ... --model-overrides "{'mem_intervention': 'knockout=3'}"

* ``none``: the intact model;
* ``zero``: the memory outputs are zeroed (B sentences at once: every sentence's);
* ``swap``: sentence ``b`` of a batch reads the memory outputs of sentence ``b - 1`` (rolled by
  one within the batch, the last to the first; a batch of one sentence is left as it is);
* ``mean``: the memory outputs are replaced by a given vector per slot (``mem_intervention_mean``:
  an ``.npy`` file of shape (m, C), e.g. each slot's mean over a test set);
* ``hide``: the memory is masked from the decoder's encoder attention (as padding is);
* ``knockout=k``: slot ``k`` (0-based) alone is zeroed;
* ``remove``: no memory at inference (m = 0), so the encoder runs on the source alone.

The memory outputs are the encoder's last states at the memory positions, after its final
layer norm: exactly what the decoder's cross-attention reads. Which interventions a model
defines (``defined_interventions``): those at the decoder need a decoder that reads the memory
(not with ``--mem-hide-from-decoder``, nor with m = 0); ``hide`` is not defined for
MemBottleneck, whose decoder reads the memory alone (it would see no key); ``remove`` only for
``prepend``, whose layers run the same with or without memory (the other layouts' memory
layers need it). Asking for another is an ``InterventionError`` naming the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

INTERVENTIONS = ("none", "zero", "swap", "mean", "hide", "knockout", "remove")
AT_DECODER = ("zero", "swap", "mean", "hide", "knockout")  # need a decoder that reads memory


class InterventionError(ValueError):
    """An intervention that is malformed or that this model does not define."""


@dataclass(frozen=True)
class Intervention:
    """One intervention: its name, the slot of ``knockout``, the vectors of ``mean``."""

    name: str
    slot: int | None = None  # knockout: the slot zeroed
    mean: Tensor | None = None  # mean: (m, C) the vectors put in place of the memory outputs

    @classmethod
    def parse(cls, spec: str, mean: Tensor | None = None) -> Intervention:
        """``none``, ``zero``, ``swap``, ``mean`` (with ``mean``), ``hide``, ``knockout=k``,
        ``remove``."""
        name, _, arg = spec.partition("=")
        if name not in INTERVENTIONS:
            raise InterventionError(
                f"unknown memory intervention {spec!r}: expected one of "
                f"{', '.join(INTERVENTIONS)} (knockout as knockout=<slot>)"
            )
        if (name == "knockout") != bool(arg):
            raise InterventionError(f"expected knockout=<slot> for a knockout, got {spec!r}")
        slot = None
        if name == "knockout":
            if not arg.isdigit():
                raise InterventionError(f"knockout's slot must be an integer >= 0, got {arg!r}")
            slot = int(arg)
        if name == "mean" and mean is None:
            raise InterventionError(
                "the mean intervention needs the vectors that replace the memory outputs "
                "(mem_intervention_mean: an .npy file of shape (m, C))"
            )
        if name != "mean" and mean is not None:
            raise InterventionError(f"the {spec} intervention takes no mean vectors")
        return cls(name, slot, mean)

    def __str__(self) -> str:
        return f"knockout={self.slot}" if self.name == "knockout" else self.name

    @property
    def removes_memory(self) -> bool:
        return self.name == "remove"

    def apply(self, out: Tensor, padding_mask: Tensor, m: int) -> tuple[Tensor, Tensor]:
        """What the decoder reads under this intervention, memory at positions ``0 .. m-1``.

        Args:
            out: (T', B, C) the encoder output the decoder reads.
            padding_mask: (B, T'), True at padding.
            m: memory slots at the front of ``out``.
        Returns:
            (T', B, C) output and (B, T') mask; new tensors where changed.
        """
        if self.name in ("none", "remove"):  # remove acts in the encoder itself
            return out, padding_mask
        if self.name == "hide":
            padding_mask = padding_mask.clone()
            padding_mask[:, :m] = True  # the decoder gives memory keys no weight
            return out, padding_mask
        out = out.clone()
        if self.name == "zero":
            out[:m] = 0.0
        elif self.name == "knockout":
            out[self.slot] = 0.0
        elif self.name == "swap":
            out[:m] = out[:m].roll(1, dims=1)  # (m, B, C): sentence b reads sentence b - 1's
        elif self.name == "mean":
            out[:m] = self.mean.to(out).unsqueeze(1)  # (m, 1, C) broadcast over the batch
        return out, padding_mask


def defined_interventions(layout: str, num_memory: int, hidden: bool) -> tuple[str, ...]:
    """The interventions a translation model of ``layout`` with ``num_memory`` slots defines,
    its memory hidden from the decoder or not (see the module docstring)."""
    return tuple(n for n in INTERVENTIONS if why_undefined(n, layout, num_memory, hidden) is None)


def why_undefined(name: str, layout: str, num_memory: int, hidden: bool) -> str | None:
    """Why intervention ``name`` is not defined for such a model, or None when it is."""
    if name == "remove" and layout != "prepend":
        return f"its {layout} memory layers need the memory: removal is defined for prepend only"
    if name not in AT_DECODER:
        return None
    if num_memory == 0:
        return "the model has no memory"
    if hidden:
        return "its decoder does not read the memory (--mem-hide-from-decoder)"
    if name == "hide" and layout == "bottleneck":
        return "its decoder reads the memory alone: hiding it would leave no key"
    return None


def check_intervention(
    intervention: Intervention, layout: str, num_memory: int, hidden: bool, dim: int
) -> None:
    """Raise InterventionError unless this model (layout, m, hidden, model dim C) defines
    ``intervention`` with these arguments."""
    reason = why_undefined(intervention.name, layout, num_memory, hidden)
    if reason is not None:
        raise InterventionError(
            f"memory intervention {intervention} is not defined for layout {layout} with "
            f"{num_memory} memory tokens: {reason} (defined: "
            f"{', '.join(defined_interventions(layout, num_memory, hidden))})"
        )
    slot = intervention.slot
    if slot is not None and slot >= num_memory:
        raise InterventionError(f"knockout={slot}: the memory has slots 0 to {num_memory - 1}")
    mean = intervention.mean
    if mean is not None and tuple(mean.shape) != (num_memory, dim):
        raise InterventionError(
            f"mean vectors of shape {tuple(mean.shape)}, expected (m, C) = ({num_memory}, {dim})"
        )


def from_model_options(args: Any) -> Intervention | None:
    """The intervention that model options ask for: ``mem_intervention`` (a spec as
    ``Intervention.parse`` reads it) and, for ``mean``, ``mem_intervention_mean`` (the path of
    an ``.npy`` file of shape (m, C)); None when there is none. Inference only: fairseq-generate
    sets them with ``--model-overrides``; no training option declares them."""
    spec = getattr(args, "mem_intervention", None)
    if spec is None:
        return None
    path = getattr(args, "mem_intervention_mean", None)
    mean = torch.from_numpy(np.load(path)).float() if path else None  # (m, C)
    return Intervention.parse(str(spec), mean)
