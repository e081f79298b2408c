"""``pcgrad``: projecting conflicting gradients (Yu, Kumar, Gupta, Levine, Hausman & Finn, NeurIPS 2020); its options and the strategy."""

from __future__ import annotations

from typing import Literal, Sequence

from mtlsearch.plugins import LazyModule, PluginOptions
from mtlsearch.train.weightings import WEIGHTINGS
from mtlsearch.train.weightings.base import Weighting, average

torch = LazyModule("torch")


class PCGradOptions(PluginOptions):
    """``pcgrad``: no options."""

    name: Literal["pcgrad"] = "pcgrad"


@WEIGHTINGS.register
class PCGrad(Weighting):
    """``pcgrad``: projecting conflicting gradients (Yu, Kumar, Gupta, Levine, Hausman & Finn, NeurIPS 2020).

    With ``g_t = ∇_θ L_t`` on the shared parameters θ, each task in turn, for
    the other tasks ``j`` in a random order, drops the component along ``g_j``
    when they conflict:

        if g_t^PC · g_j < 0:   g_t^PC ← g_t^PC − (g_t^PC · g_j) / ‖g_j‖² · g_j

    and θ gets ``Σ_t g_t^PC``; every other parameter gets ``∇ Σ_t L_t``. The random
    orders come from a generator seeded with the run's seed (identical on every
    rank, saved in checkpoints). Under DDP the ``g_t`` are averaged over ranks
    before the projection.
    """

    name = "pcgrad"
    Options = PCGradOptions
    per_task_gradients = True

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, options: PCGradOptions | None = None):
        super().__init__(tasks, world_size, seed, options)
        self.generator = torch.Generator().manual_seed(int(seed) * 7919 + 17)

    def backward(self, losses: torch.Tensor) -> torch.Tensor:
        T = len(self.tasks)
        if self.shared:
            rows = []
            for t in range(T):
                grads = torch.autograd.grad(losses[t], self.shared, retain_graph=True, allow_unused=True)
                rows.append(
                    torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for p, g in zip(self.shared, grads)])
                )
            G = torch.stack(rows)
        shared_ids = {id(p) for p in self.shared}
        rest = [p for p in self.params if id(p) not in shared_ids]
        if rest:
            losses.sum().backward(inputs=rest)
        for p in rest:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if not self.shared:
            average([p.grad for p in rest], self.world_size)
            return losses.detach().sum()
        average([G, *[p.grad for p in rest]], self.world_size)
        total = self.project(G, self.generator).sum(dim=0)
        offset = 0
        for p in self.shared:
            p.grad = total[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()
        return losses.detach().sum()

    @staticmethod
    def project(G: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The projected task gradients ``g_t^PC`` (rows of ``G``), others visited in a random order."""
        T = G.shape[0]
        out = G.clone()
        sq = (G * G).sum(dim=1)
        for t in range(T):
            order = torch.randperm(T, generator=generator).tolist() if generator is not None else list(range(T))
            for j in order:
                if j == t or sq[j] <= 0:
                    continue
                dot = out[t] @ G[j]
                if dot < 0:
                    out[t] -= dot / sq[j] * G[j]
        return out

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
