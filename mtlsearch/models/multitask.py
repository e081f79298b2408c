"""One model class that executes any :class:`SharingPlan`."""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.models.cross_task_attention import CrossTaskAttention
from mtlsearch.models.encoders import build_encoder
from mtlsearch.models.plan import SharingPlan
from mtlsearch.models.soft_sharing import add_penalty_grad_, pairwise_penalty, selected_parameters


def _module_seed(seed: int, tag: str) -> int:
    return int(hashlib.sha256(f"{seed}:{tag}".encode()).hexdigest()[:8], 16)


class MultiTaskModel(nn.Module):
    """Encoders and heads wired by a sharing plan.

    Each encoder group gets its own encoder; each head group one linear layer
    emitting the logits of all its tasks (1 per binary task, C per C-class task),
    applied to its encoder's output. Parameters are initialised from a seed
    derived from ``(seed, the group's task names)``, so a task's STL encoder is
    identical whichever other tasks are in the run.

    ``input_shape`` is one example's shape before flattening (the dataset's
    ``feature_shape``); spectrogram encoders (``cnn``, ``ast``) need it.

    ``forward`` returns the logits of every task, in ``self.task_names`` order
    (with overlapping groups: of every trained copy, :meth:`SharingPlan.trained`).

    Cross-task attention (``plan.attention``, M3H, Bertsimas and Ma, arXiv:2404.18975,
    2024): each encoder group gets a :class:`CrossTaskAttention` over its tasks, and
    task ``t``'s logits are its head group's rows for ``t`` applied to ``o_t`` (so a
    GMHL head group is still one linear layer, read at each of its tasks' ``o_t``).

    Soft sharing (``plan.sharing == "soft"``, Tri-MTL, arXiv:2505.06271 §II-B):
    the encoders all start from the same weights — the initialisation of the
    hard-shared encoder of all the plan's tasks, as the paper's encoders all start
    from one pretrained AST — and :meth:`regularizer` is the penalty
    ``λ Σ_{t<s} Σ_{l∈S} ‖θ_t^l − θ_s^l‖²`` the training loss adds
    (:mod:`mtlsearch.models.soft_sharing`); under hard sharing it is 0.
    """

    def __init__(
        self,
        plan: SharingPlan,
        tasks: list[TaskInfo],
        encoder_cfg: dict,
        in_dim: int,
        seed: int,
        input_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        by_name = {t.name: t for t in tasks}
        # overlapping groups: the model trains the plan's copies (a copy's task record is its task's unless given)
        by_name.update({c: by_name[s] for c, s in plan.sources.items() if c not in by_name and s in by_name})
        plan = plan.trained()
        self.plan = plan
        self.task_names = plan.tasks
        self.encoders = nn.ModuleList()
        for group in plan.encoder_groups:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_module_seed(seed, "enc:" + ",".join(plan.tasks if plan.soft else group)))
                self.encoders.append(build_encoder(encoder_cfg, in_dim, input_shape))
        # soft sharing: per encoder, the full names of the penalised parameters (matched by position across encoders)
        self._soft_names: list[list[str]] = []
        if plan.soft and plan.soft_lambda > 0 and len(self.encoders) > 1:
            self._soft_names = [
                [f"encoders.{i}.{n}" for n in selected_parameters(enc, plan.soft_layers)] for i, enc in enumerate(self.encoders)
            ]
        self.attention = nn.ModuleList()
        if plan.attention:
            for group in plan.encoder_groups:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(_module_seed(seed, "attn:" + ",".join(group)))
                    out_dim = self.encoders[len(self.attention)].out_dim
                    self.attention.append(CrossTaskAttention(len(group), out_dim, plan.attention_dim, plan.attention_gamma))
        # task -> (encoder group, its index in the group): where its o_t is
        self._attention_position = {t: (i, j) for i, g in enumerate(plan.encoder_groups) for j, t in enumerate(g)}
        self.heads = nn.ModuleList()
        self._head_encoder: list[int] = []
        self._head_tasks: list[list[str]] = []
        self._head_splits: list[list[int]] = []
        for group in plan.head_groups:
            enc = plan.encoder_of(group[0])
            sizes = [by_name[t].num_outputs for t in group]
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_module_seed(seed, "head:" + ",".join(group)))
                in_dim = plan.attention_dim if plan.attention else self.encoders[enc].out_dim
                self.heads.append(nn.Linear(in_dim, sum(sizes)))
            self._head_encoder.append(enc)
            self._head_tasks.append(list(group))
            self._head_splits.append(sizes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = [enc(x) for enc in self.encoders]
        if self.plan.attention:
            return self._attended_logits(features)
        out: dict[str, torch.Tensor] = {}
        for head, enc, names, sizes in zip(self.heads, self._head_encoder, self._head_tasks, self._head_splits):
            for name, logits in zip(names, torch.split(head(features[enc]), sizes, dim=1)):
                out[name] = logits
        return out

    def _attended_logits(self, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each task's rows of its head group's layer applied to its attended ``o_t``."""
        attended = [attn(z) for attn, z in zip(self.attention, features)]  # (B, T_group, d) per encoder group
        position = self._attention_position
        out: dict[str, torch.Tensor] = {}
        for head, names, sizes in zip(self.heads, self._head_tasks, self._head_splits):
            start = 0
            for name, size in zip(names, sizes):
                group, j = position[name]
                rows = slice(start, start + size)
                out[name] = nn.functional.linear(attended[group][:, j], head.weight[rows], head.bias[rows])
                start += size
        return out

    def keep_attention(self, on: bool) -> None:
        """Make each cross-task attention layer keep its last batch's ``A`` (or stop)."""
        for attn in self.attention:
            attn.keep_attention = on
            attn.last_attention = None

    def last_attention(self) -> list[torch.Tensor]:
        r"""The last batch's ``A`` per encoder group (after :meth:`keep_attention`\ ``(True)``)."""
        return [attn.last_attention for attn in self.attention]

    def _soft_weights(self) -> list[list[torch.Tensor]]:
        return [[self.get_parameter(n) for n in names] for names in self._soft_names]

    def regularizer(self) -> torch.Tensor:
        """The soft-sharing penalty ``λ Σ_{t<s} Σ_{l∈S} ‖θ_t^l − θ_s^l‖²`` (differentiable); 0 under hard sharing.

        Tri-MTL, arXiv:2505.06271, Eq. (7); ``λ`` = ``plan.soft_lambda``, ``S`` = ``plan.soft_layers``.
        """
        if not self._soft_names:
            return torch.zeros((), device=next(self.parameters()).device)
        return pairwise_penalty(self._soft_weights(), self.plan.soft_lambda)

    def regularizer_backward(self) -> torch.Tensor:
        """Add the gradient of :meth:`regularizer` to the parameters' ``.grad``; return its value (detached).

        Equal to ``self.regularizer().backward()`` but without autograd, so it can
        follow a DDP backward (the penalty's gradient is the same on every rank:
        the weights are) and any loss-weighting strategy's own backward. Under
        hard sharing it does nothing and returns 0.
        """
        if not self._soft_names:
            return torch.zeros((), device=next(self.parameters()).device)
        return add_penalty_grad_(self._soft_weights(), self.plan.soft_lambda)
