"""The fused encoder of multimodal inputs: one encoder per input over its slice of the packed row, then fusion.

Rows are the inputs packed side by side in one float32 matrix
(:mod:`mtlsearch.models.encoders.multimodal`); :class:`FusedEncoder` cuts each input's columns,
casts token ids back to ``long``, runs that input's encoder (``mlp``, ``text``, ``cnn``, ``ast``,
``timeseries`` …, each reshaping its flat rows as it does alone) and fuses the outputs:

* ``concat``: ``ReLU(W [h_1; …; h_M] + b)``, the outputs concatenated in ``model.inputs`` order;
* ``linear``: ``W [h_1; …; h_M] + b``, the same without the ReLU (linear late fusion: the inputs meet
  only linearly before the heads, or before cross-task attention's per-example weights);
* ``attention``: ``p_m = W_m h_m + b_m`` (each projected to ``dim``), ``a = softmax_m(⟨p_m, q⟩ / √dim)``
  with a learned query ``q``, output ``ReLU(Σ_m a_m p_m)``;

then ``dropout``; ``out_dim`` = ``dim``. ``eval_batch`` is the smallest of its parts'.

Soft sharing (:mod:`mtlsearch.models.soft_sharing`) indexes its layers by :meth:`FusedEncoder.indexed_layers`:
each input's encoder's layers in ``model.inputs`` order (what a layer is per encoder type, as for that
encoder alone), then the fusion's: ``concat`` and ``linear`` one (the projection); ``attention`` one per input projection,
then the query.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mtlsearch.models.fusion_options import FUSION_TYPES, PROJECTED

DEFAULT_EVAL_BATCH = 8192  # the trainer's own chunk size (mtlsearch.train.trainer.EVAL_BATCH)


class FusedEncoder(nn.Module):
    """Per-input encoders over slices of one packed row, fused to ``dim`` (see the module docstring).

    ``parts``: ``(name, encoder, start, width, tokens)`` per input, in fusion order; ``tokens``: the slice
    holds token ids (rounded and cast to ``long`` before its encoder).
    """

    def __init__(
        self,
        parts: list[tuple[str, nn.Module, int, int, bool]],
        type: str = "concat",
        dim: int = 64,
        dropout: float = 0.0,
    ):
        super().__init__()
        if not parts:
            raise ValueError("a fused encoder needs at least one input")
        if type not in FUSION_TYPES:
            raise ValueError(f"fusion type must be one of {', '.join(FUSION_TYPES)}, got {type!r}")
        self.parts = nn.ModuleDict({name: enc for name, enc, _, _, _ in parts})
        self._slices = [(name, int(start), int(width), bool(tokens)) for name, _, start, width, tokens in parts]
        self.fusion = type
        dims = [int(enc.out_dim) for _, enc, _, _, _ in parts]
        if type in PROJECTED:
            self.project = nn.Linear(sum(dims), dim)
        else:
            self.projections = nn.ModuleList(nn.Linear(d, dim) for d in dims)
            self.query = nn.Parameter(torch.randn(dim) / math.sqrt(dim))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out_dim = int(dim)
        self.eval_batch = min(int(getattr(enc, "eval_batch", DEFAULT_EVAL_BATCH)) for _, enc, _, _, _ in parts)

    def split(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each input's rows of the packed batch ``x`` (token ids as ``long``)."""
        out = {}
        for name, start, width, tokens in self._slices:
            part = x[:, start : start + width]
            out[name] = part.round().long() if tokens else part.contiguous()
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = self.split(x)
        feats = [self.parts[name](inputs[name]) for name, _, _, _ in self._slices]
        if self.fusion in PROJECTED:
            fused = self.project(torch.cat(feats, dim=1))
        else:
            p = torch.stack([proj(h) for proj, h in zip(self.projections, feats)], dim=1)  # (batch, inputs, dim)
            weights = torch.softmax(p @ self.query / math.sqrt(p.shape[-1]), dim=1)  # (batch, inputs)
            fused = (weights.unsqueeze(-1) * p).sum(dim=1)
        return self.dropout(fused if self.fusion == "linear" else torch.relu(fused))

    def indexed_layers(self) -> list[list[str]]:
        """Parameter names (relative to this module) of each soft-sharing layer: every input encoder's layers
        in fusion order, then the fusion's (see the module docstring)."""
        from mtlsearch.models.soft_sharing import encoder_layers

        out: list[list[str]] = []
        for name, _, _, _ in self._slices:
            out += [[f"parts.{name}.{n}" for n in layer] for layer in encoder_layers(self.parts[name])]
        if self.fusion in PROJECTED:
            out.append([f"project.{n}" for n, _ in self.project.named_parameters()])
        else:
            out += [[f"projections.{i}.{n}" for n, _ in p.named_parameters()] for i, p in enumerate(self.projections)]
            out.append(["query"])
        return out
