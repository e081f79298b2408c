"""``gradnorm``: gradient normalisation (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018); its options and the strategy."""

from __future__ import annotations

from typing import Literal, Sequence

from pydantic import Field

from mtlsearch.plugins import LazyModule, PluginOptions
from mtlsearch.train.weightings import WEIGHTINGS
from mtlsearch.train.weightings.base import Weighting, average

torch = LazyModule("torch")
nn = LazyModule("torch.nn")


class GradNormOptions(PluginOptions):
    """``gradnorm``: the restoring force α."""

    name: Literal["gradnorm"] = "gradnorm"
    alpha: float = Field(1.5, ge=0, description="restoring force; 0 equalises gradient norms")


@WEIGHTINGS.register
class GradNorm(Weighting):
    """``gradnorm``: gradient normalisation (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018).

    Trainable weights ``w_t`` (initially 1). Per step, with ``W`` the last shared
    layer's weight (per task: the last weight matrix of its encoder that its loss reaches):

        G_t = ‖∇_W w_t L_t‖₂,   Ḡ = mean_t G_t,   L̃_t = L_t / L_t(0),   r_t = L̃_t / mean_i L̃_i
        L_grad = Σ_t | G_t − Ḡ · r_t^α |            (the target Ḡ r_t^α held constant)

    so ``∂L_grad/∂w_t = sign(G_t − Ḡ r_t^α) · ‖∇_W L_t‖``. The model gets
    ``∇ Σ_t w_t L_t``; the weights get ``∇_w L_grad`` and step with the model's
    optimizer (no weight decay), then are renormalised to ``Σ_t w_t = T``
    (floored at 1e-4 first, a guard against negative weights). ``L_t(0)`` is the
    first step's loss. Under DDP the losses and per-task ``∇_W L_t`` are averaged
    over ranks before use, so every rank computes the one-worker update.
    """

    name = "gradnorm"
    Options = GradNormOptions
    per_task_gradients = True

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, options: GradNormOptions | None = None):
        super().__init__(tasks, world_size, seed, options)
        self.alpha = float(self.options.alpha)
        self.w = nn.Parameter(torch.ones(len(self.tasks)))
        self.initial: torch.Tensor | None = None
        self.layers: list[nn.Parameter] | None = None

    def bind(self, params, shared=(), candidates=None) -> "Weighting":
        super().bind(params, shared, candidates)
        if self.params:
            self.w.data = self.w.data.to(self.params[0].device)
        self.layers = None
        return self

    def weights(self) -> torch.Tensor:
        return self.w.detach()

    def extra_parameters(self) -> list[nn.Parameter]:
        return [self.w]

    def _pick_layers(self, losses: torch.Tensor) -> list[nn.Parameter]:
        """Per task, the last of its candidate weight matrices its loss reaches (probed once)."""
        layers = []
        for t, cands in enumerate(self.candidates):
            if len(cands) == 1:
                layers.append(cands[0])
                continue
            grads = torch.autograd.grad(losses[t], cands, retain_graph=True, allow_unused=True) if cands else []
            reached = [p for p, g in zip(cands, grads) if g is not None]
            if not reached:
                raise ValueError(f"weighting 'gradnorm': task {self.tasks[t]!r} reaches no weight matrix of its encoder")
            layers.append(reached[-1])
        return layers

    def backward(self, losses: torch.Tensor) -> torch.Tensor:
        if self.layers is None:
            self.layers = self._pick_layers(losses)
        task_grads = []
        for t, layer in enumerate(self.layers):
            g = torch.autograd.grad(losses[t], layer, retain_graph=True, allow_unused=True)[0]
            task_grads.append(torch.zeros_like(layer) if g is None else g)
        global_losses = losses.detach().clone()
        average([global_losses, *task_grads], self.world_size)
        if self.initial is None:
            self.initial = global_losses.clone()
        norms = torch.stack([g.norm() for g in task_grads]).to(self.w.dtype)
        w = self.w.detach()
        G = w * norms
        ratio = global_losses.to(w.dtype) / self.initial.to(w.dtype).clamp_min(1e-12)
        target = G.mean() * (ratio / ratio.mean()) ** self.alpha
        (w * losses).sum().backward()
        average(self._all_grads(), self.world_size)
        self.w.grad = torch.sign(G - target) * norms
        return losses.detach().sum()

    def after_step(self) -> None:
        with torch.no_grad():
            self.w.clamp_(min=1e-4)
            self.w.mul_(len(self.tasks) / self.w.sum())

    def state_dict(self) -> dict:
        return {"w": self.w.detach().cpu().clone(), "initial": None if self.initial is None else self.initial.cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        self.w.data.copy_(state["w"])
        self.initial = None if state["initial"] is None else state["initial"].to(self.w.device)
