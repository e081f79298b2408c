"""Soft parameter sharing: one encoder per task (or task group), pulled together by an L2 penalty.

Tri-MTL (Kim et al. 2025, "Tri-MTL: A Triple Multitask Learning Approach for
Respiratory Disease Diagnosis", arXiv:2505.06271, ``../shared/papers/tri-mtl_kim2025_arxiv2505.06271.txt``),
§II-B, Eqs. (6)-(7)::

    L_pairwise(t, s) = Σ_{l ∈ S} ‖θ_t^l − θ_s^l‖²
    L_Reg            = λ Σ_{t=1}^{T} Σ_{s=t+1}^{T} L_pairwise(t, s)

"where λ is the regularization hyperparameter, T denotes the number of tasks,
θ_t^l represents the weights of layer l in task t, and S is the set of layers
where regularization is applied"; the total loss is ``L_Soft = L_Task + L_Reg``
(Eq. 8, 10) and the paper uses λ = 0.1. ``‖·‖²`` is the squared Euclidean norm of
all of a layer's weights (the sum of squared element differences). Here ``t``
and ``s`` range over the *encoders* of a soft sharing plan (one per task, or
one per task group for grouped architectures); heads are never penalised.

**Naming the layer set S** (``soft_layers``): ``"all"`` (every trainable
parameter of the encoder: the paper's whole feature encoder), or layer indices
``"0,2"`` / ``[0, 2]`` / ``-1`` (negative indices count from the last layer),
where the layers of an encoder are, in forward order:

* ``mlp``: each ``nn.Linear`` (weight and bias), one per entry of ``hidden_dims``;
* ``cnn``: each convolution block (the ``Conv2d`` weight and its ``BatchNorm2d``
  affine weight and bias; running statistics are buffers, not weights), one per
  entry of ``channels``;
* ``ast``, ``text``: each transformer layer (embeddings and pooler are covered
  by ``"all"`` only);
* ``timeseries``: each Conv1d block (its weight and BatchNorm affine weight and bias);
* multimodal (``model.inputs``, :class:`mtlsearch.models.fusion.FusedEncoder`):
  the union — each input's encoder's layers in ``model.inputs`` order, then the
  fusion's (``concat``: the projection; ``attention``: each input's projection,
  then the query).

Frozen parameters (``freeze_layers``) are left out: they cannot move.

The penalty is computed in O(E) instead of O(E²) per weight tensor (E
encoders) from the differences to the first encoder, ``d_t = a_t − a_1``:
``Σ_{t<s} ‖a_t − a_s‖² = E Σ_t ‖d_t‖² − ‖Σ_t d_t‖²`` (identical encoders give
exactly 0). Its gradient ``∂/∂θ_t = 2λ Σ_{s≠t} (θ_t − θ_s) = 2λ (E d_t − Σ_s d_s)``
can be added to ``.grad`` directly (:func:`add_penalty_grad_`) — after a DDP
backward, where a second autograd backward would be refused — instead of
through autograd.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtlsearch.models.soft_layers import ALL, canonical_layers


def layer_indices(layers: str) -> tuple[int, ...] | None:
    """Indices of a canonical layer set (None for ``"all"``)."""
    layers = canonical_layers(layers)
    return None if layers == ALL else tuple(int(p) for p in layers.split(","))


def encoder_layers(encoder: nn.Module) -> list[list[str]]:
    """Parameter names (relative to ``encoder``) of each indexed layer, in forward order (see the module doc)."""
    custom = getattr(encoder, "indexed_layers", None)  # an encoder that says what its layers are (the fused encoder)
    if callable(custom):
        return custom()
    names = {id(p): n for n, p in encoder.named_parameters()}
    for attr in ("ast", "model"):  # transformers models inside the ast / text encoders
        inner = getattr(encoder, attr, None)
        if isinstance(inner, nn.Module):
            from mtlsearch.models.networks import transformer_layers

            return [[names[id(p)] for p in layer.parameters()] for layer in transformer_layers(inner)]
    layers: list[list[str]] = []
    for module in encoder.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            layers.append([])
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.modules.batchnorm._BatchNorm)) and layers:
            layers[-1] += [names[id(p)] for p in module.parameters(recurse=False)]
    return layers


def selected_parameters(encoder: nn.Module, layers: str) -> list[str]:
    """Names of the trainable parameters of ``encoder`` in the layer set ``layers`` (order fixed by the encoder)."""
    trainable = [n for n, p in encoder.named_parameters() if p.requires_grad]
    idx = layer_indices(layers)
    if idx is None:
        return trainable
    per_layer = encoder_layers(encoder)
    n = len(per_layer)
    bad = [i for i in idx if not -n <= i < n]
    if bad:
        raise ValueError(
            f"soft_layers {layers!r}: the encoder {type(encoder).__name__} has {n} layers (indices {-n}..{n - 1}), got {bad}"
        )
    chosen = {name for i in idx for name in per_layer[i]}
    return [name for name in trainable if name in chosen]


def _layer_terms(weights: Sequence[Sequence[torch.Tensor]]):
    """Per matched tensor k: ``(ws, d, s, term)`` with ``d_t = w_{t,k} − w_{0,k}``, ``s = Σ_t d_t`` and
    ``term = E Σ_t ‖d_t‖² − ‖s‖² = Σ_{t<s} ‖w_{t,k} − w_{s,k}‖²`` (``E`` encoders; ``d_0 = 0``)."""
    e = len(weights)
    for ws in zip(*weights):
        d = [torch.zeros_like(ws[0])] + [w - ws[0] for w in ws[1:]]
        s = sum(d[1:])
        yield ws, d, s, e * sum(x.pow(2).sum() for x in d[1:]) - s.pow(2).sum()


def _trivial(weights: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor | None:
    """A zero penalty when there is nothing to compare (fewer than two encoders, or no tensors), else None."""
    if len(weights) < 2 or not weights[0]:
        ref = weights[0][0] if weights and weights[0] else torch.zeros(())
        return ref.new_zeros(())
    return None


def pairwise_penalty(weights: Sequence[Sequence[torch.Tensor]], lam: float) -> torch.Tensor:
    """``λ Σ_{t<s} Σ_k ‖w_{t,k} − w_{s,k}‖²`` (Tri-MTL Eqs. 6-7), differentiable.

    ``weights[t]`` lists encoder t's tensors of the layer set, matched by position
    across encoders (same shapes). Fewer than two encoders: 0.
    """
    zero = _trivial(weights)
    if zero is not None:
        return zero
    return lam * sum(term for _, _, _, term in _layer_terms(weights))


@torch.no_grad()
def add_penalty_grad_(weights: Sequence[Sequence[torch.Tensor]], lam: float) -> torch.Tensor:
    """Add ``∂ pairwise_penalty / ∂w_t = 2λ Σ_{s≠t} (w_t − w_s)`` to each tensor's ``.grad``.

    The same gradient ``pairwise_penalty(...).backward()`` would accumulate,
    without autograd; returns the penalty's value (detached). A ``.grad`` that
    is None is set.
    """
    zero = _trivial(weights)
    if zero is not None:
        return zero
    e = len(weights)
    total = None
    for ws, d, s, term in _layer_terms(weights):
        total = term if total is None else total + term
        for w, dt in zip(ws, d):
            step = dt.mul_(e).sub_(s).mul_(2.0 * lam)  # 2λ (E d_t − Σ_s d_s)
            if w.grad is None:
                w.grad = step
            else:
                w.grad.add_(step)
    return lam * total
