"""Cross-task attention between a shared representation and the task heads, and its TIM matrix.

M3H (Dimitris Bertsimas and Yu Ma, "M3H: Multimodal Multitask Machine Learning
for Healthcare", arXiv:2404.18975, 2024) places a cross-task attention layer
between the shared representation and the heads, to balance each task's
"self-exploitation" (its own representation) against "cross-exploration" (the
other tasks'), and explains it with a task-interdependence (TIM) score. The
paper's exact equations and TIM formula were not available to us; this module
follows the published description, not the paper's code, with this definition:

* the group's encoder gives ``z``; each task ``t`` of the group has its own
  linear projection ``e_t = P_t(z) ∈ R^d``;
* per example, ``q_t = W_q e_t``, ``k_s = W_k e_s``, ``v_s = W_v e_s`` (``W_q``,
  ``W_k``, ``W_v ∈ R^{d×d}`` shared by the tasks), and
  ``A = softmax_s(Q Kᵀ / √d + γ I)``, a row-stochastic ``T×T`` matrix;
* ``o_t = e_t + Σ_s A_ts v_s``, and task ``t``'s head reads ``o_t``;
* ``γ`` sets the balance: ``γ → +∞`` gives ``A = I`` (self-exploitation only),
  ``γ → −∞`` attends only to the other tasks; it is a fixed number or
  ``learned`` (a scalar parameter starting at :data:`LEARNED_GAMMA_INIT`);
* ``TIM_{t←s}`` = the mean of ``A_ts`` over the validation examples, ``s ≠ t``
  (the diagonal is left out: it is the self share ``1 − Σ_{s≠t} TIM_{t←s}``).

With one task the layer reduces to ``o = e + W_v e`` (``A = [1]``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mtlsearch.models.attention_options import DEFAULT_ATTENTION_DIM, LEARNED, LEARNED_GAMMA_INIT, check_gamma


class CrossTaskAttention(nn.Module):
    """The layer of one encoder group: ``z (B, in_dim)`` → ``o (B, T, d)``; the last ``A (B, T, T)`` on request.

    ``forward(z)`` returns ``o``; with ``keep_attention = True`` it also keeps
    the batch's attention in ``last_attention`` (the trainer sums it over the
    validation split into the TIM matrix).
    """

    def __init__(self, num_tasks: int, in_dim: int, dim: int = DEFAULT_ATTENTION_DIM, gamma: float | str = LEARNED):
        super().__init__()
        self.num_tasks, self.dim = num_tasks, dim
        self.project = nn.Linear(in_dim, num_tasks * dim)  # the T projections P_t, stacked
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        gamma = check_gamma(gamma)
        if gamma == LEARNED:
            self.gamma = nn.Parameter(torch.tensor(LEARNED_GAMMA_INIT))
        else:
            self.register_buffer("gamma", torch.tensor(float(gamma)), persistent=False)
        self.register_buffer("eye", torch.eye(num_tasks), persistent=False)
        self.keep_attention = False
        self.last_attention: torch.Tensor | None = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        e = self.project(z).view(z.shape[0], self.num_tasks, self.dim)
        logits = self.query(e) @ self.key(e).transpose(1, 2) / math.sqrt(self.dim) + self.gamma * self.eye
        attention = torch.softmax(logits, dim=-1)
        if self.keep_attention:
            self.last_attention = attention.detach()
        return e + attention @ self.value(e)


class TimAccumulator:
    """Sums ``A`` over examples per encoder group and reads off ``TIM_{t←s}`` (module docstring).

    Only pairs of distinct tasks of one encoder group have an entry: no attention
    runs between groups, and the diagonal is the self share.
    """

    def __init__(self, groups: list[list[str]]):
        self.groups = groups
        self.sums = [torch.zeros(len(g), len(g), dtype=torch.float64) for g in groups]
        self.count = 0

    def add(self, attentions: list[torch.Tensor]) -> None:
        for i, a in enumerate(attentions):
            self.sums[i] += a.sum(dim=0).double().cpu()
        self.count += int(attentions[0].shape[0]) if attentions else 0

    def rows(self) -> dict[str, dict[str, float]]:
        """``{t: {s: TIM_{t←s}}}`` for each pair of distinct tasks of one encoder group."""
        out: dict[str, dict[str, float]] = {}
        for group, total in zip(self.groups, self.sums):
            mean = (total / max(self.count, 1)).tolist()
            for a, t in enumerate(group):
                out[t] = {s: mean[a][b] for b, s in enumerate(group) if b != a}
        return out
