"""Loss-weighting strategies: how the per-task losses ``L_t`` of a batch become gradients.

One small class per strategy, registered in :data:`WEIGHTINGS` by its spec name
(``train.weighting.name``). The trainer calls, per step,
``observe_kpi`` (only when :attr:`Weighting.needs_kpi`), ``backward(losses)``
(which leaves the gradients in every parameter's ``.grad``), ``optimizer.step()``
and ``after_step()``; and ``end_epoch()`` after each training pass.

**DDP.** Every strategy yields the gradients that one worker would get on the
same global batch:

* strategies that only weight the losses (equal, static, uncertainty, DWA, DTP)
  keep DDP, which averages ``∇ Σ_t w_t L_t^(r)`` over ranks ``r``; that is the
  one-worker gradient as long as ``w`` is the same on every rank. So the global
  statistics they depend on are all-reduced: DWA's epoch losses, DTP's KPI counts,
  and the gradients of their own trainable parameters (uncertainty's ``s_t``);
* strategies that need each task's gradient (:attr:`Weighting.per_task_gradients`:
  GradNorm, PCGrad) are non-linear in it, so averaging after the fact would be
  wrong. The trainer runs them on the unwrapped model (no DDP hooks); they
  all-reduce (average) the per-task gradients they need *before* using them,
  then the final ``.grad`` of every parameter themselves.

**Shared parameters** are those of the encoders used by more than one task
(for MTL, ``encoders[0]``; GMTL has one per group). GradNorm's layer ``W`` for a
task is the last trainable weight matrix of that task's encoder that the loss
reaches.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import torch
from torch import nn

WEIGHTINGS: dict[str, type["Weighting"]] = {}


def register(cls: type["Weighting"]) -> type["Weighting"]:
    WEIGHTINGS[cls.name] = cls
    return cls


def make_weighting(config: dict | None, tasks: Sequence[str], world_size: int = 1, seed: int = 0) -> "Weighting":
    """The strategy ``config = {"name": ..., **options}`` names (default ``equal``) for ``tasks`` in model order."""
    options = dict(config or {})
    name = options.pop("name", "equal")
    if name not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {name!r}; expected one of {sorted(WEIGHTINGS)}")
    return WEIGHTINGS[name](tasks, world_size=world_size, seed=seed, **options)


def _distributed(world_size: int) -> bool:
    return world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()


def average(tensors: Sequence[torch.Tensor], world_size: int) -> None:
    """In place, each tensor's mean over the ``world_size`` ranks (one all-reduce for all of them)."""
    tensors = [t for t in tensors if t is not None]
    if not _distributed(world_size) or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    torch.distributed.all_reduce(flat)
    flat /= world_size
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def shared_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[list[nn.Parameter]]]:
    """``(shared, candidates)`` of a :class:`MultiTaskModel`.

    ``shared``: trainable parameters of the encoders used by more than one task.
    ``candidates[t]``: the trainable weight matrices (≥ 2-D) of task ``t``'s
    encoder, in registration order (GradNorm picks its ``W`` among them).
    """
    plan = model.plan
    shared = [
        p for i, g in enumerate(plan.encoder_groups) if len(g) > 1 for p in model.encoders[i].parameters() if p.requires_grad
    ]
    candidates = []
    for t in model.task_names:
        enc = model.encoders[plan.encoder_of(t)]
        candidates.append([p for p in enc.parameters() if p.requires_grad and p.dim() >= 2])
    return shared, candidates


class Weighting:
    """Base class: weights ``w`` (detached), objective ``Σ_t w_t L_t``.

    Construct with the task names (model order), ``world_size`` and ``seed``
    plus the strategy's options; then :meth:`bind` the model's parameters.
    """

    name: ClassVar[str]
    per_task_gradients: ClassVar[bool] = False  # True: the trainer bypasses DDP; backward averages gradients itself
    needs_kpi: ClassVar[bool] = False  # True: the trainer calls observe_kpi(correct, count) before backward

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0):
        self.tasks = list(tasks)
        self.world_size = world_size
        self.seed = seed
        self.params: list[nn.Parameter] = []
        self.shared: list[nn.Parameter] = []
        self.candidates: list[list[nn.Parameter]] = [[] for _ in self.tasks]

    def bind(
        self,
        params: Sequence[nn.Parameter],
        shared: Sequence[nn.Parameter] = (),
        candidates: Sequence[Sequence[nn.Parameter]] | None = None,
    ) -> "Weighting":
        """The model's trainable parameters, the shared ones, and per task its encoder's weight matrices."""
        self.params = [p for p in params if p.requires_grad]
        self.shared = list(shared)
        self.candidates = [list(c) for c in candidates] if candidates is not None else [list(self.shared) for _ in self.tasks]
        return self

    def bind_model(self, model: nn.Module) -> "Weighting":
        return self.bind(list(model.parameters()), *shared_parameters(model))

    # -- the step ----------------------------------------------------------------

    def weights(self) -> torch.Tensor:
        """The current task weights (detached, shape ``(T,)``)."""
        return torch.ones(len(self.tasks))

    def objective(self, losses: torch.Tensor) -> torch.Tensor:
        return (self.weights().to(losses) * losses).sum()

    def backward(self, losses: torch.Tensor) -> torch.Tensor:
        """Leave the gradients in ``.grad``; returns the unweighted ``Σ_t L_t`` (detached) for reporting."""
        self.objective(losses).backward()
        average([p.grad for p in self.extra_parameters()], self.world_size)
        return losses.detach().sum()

    def after_step(self) -> None:
        """After ``optimizer.step()`` (GradNorm renormalises its weights)."""

    def observe_kpi(self, correct: torch.Tensor, count: torch.Tensor) -> None:
        """This rank's per-task correct predictions and labelled examples in the batch (DTP)."""

    def end_epoch(self) -> None:
        """After each training pass (DWA)."""

    # -- parameters and state ------------------------------------------------------

    def extra_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters of the strategy itself (optimised with the model, no weight decay)."""
        return []

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def _all_grads(self) -> list[torch.Tensor]:
        """Every model parameter's ``.grad`` (zeros where the loss did not reach), for averaging."""
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        return [p.grad for p in self.params]


@register
class Equal(Weighting):
    """``equal``: ``L = Σ_t L_t`` (every weight 1), the default."""

    name = "equal"

    def backward(self, losses: torch.Tensor) -> torch.Tensor:
        loss = losses.sum()
        loss.backward()
        return loss.detach()


@register
class Static(Weighting):
    """``static``: fixed weights, ``L = Σ_t w_t L_t``; ``weights: {task: w_t}`` (unlisted tasks: 1).

    The search may open one weight per primary task (``search.space.static_weights``),
    the classic grid/random search over loss weights (e.g. Kendall et al. 2018, Fig. 2).
    """

    name = "static"

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, weights: dict[str, float] | None = None):
        super().__init__(tasks, world_size, seed)
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(self.tasks))
        if unknown:
            raise ValueError(f"weighting 'static': weights for unknown tasks {unknown}; tasks are {self.tasks}")
        self._w = torch.tensor([float(weights.get(t, 1.0)) for t in self.tasks])

    def weights(self) -> torch.Tensor:
        return self._w


@register
class Uncertainty(Weighting):
    """``uncertainty``: homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

    With one trainable log-variance ``s_t = log σ_t²`` per task, the classification
    form of the paper (Eq. 10, ``L ≈ L_t/σ_t² + log σ_t``):

        L = Σ_t exp(−s_t) · L_t + ½ s_t,      ∂L/∂s_t = −exp(−s_t) L_t + ½

    Weights ``w_t = exp(−s_t)``; ``init_log_var`` is the initial ``s_t``.
    """

    name = "uncertainty"

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, init_log_var: float = 0.0):
        super().__init__(tasks, world_size, seed)
        self.log_var = nn.Parameter(torch.full((len(self.tasks),), float(init_log_var)))

    def bind(self, params, shared=(), candidates=None) -> "Weighting":
        super().bind(params, shared, candidates)
        if self.params:
            self.log_var.data = self.log_var.data.to(self.params[0].device)
        return self

    def weights(self) -> torch.Tensor:
        return torch.exp(-self.log_var.detach())

    def objective(self, losses: torch.Tensor) -> torch.Tensor:
        s = self.log_var.to(losses.dtype)
        return (torch.exp(-s) * losses + 0.5 * s).sum()

    def extra_parameters(self) -> list[nn.Parameter]:
        return [self.log_var]

    def state_dict(self) -> dict:
        return {"log_var": self.log_var.detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        self.log_var.data.copy_(state["log_var"])


@register
class DWA(Weighting):
    """``dwa``: dynamic weight average (Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019).

    With ``L_t(e)`` the mean training loss of task ``t`` over epoch ``e`` and ``T``
    tasks, the weights of epoch ``e`` are

        r_t = L_t(e−1) / L_t(e−2),    w_t(e) = T · exp(r_t / temperature) / Σ_i exp(r_i / temperature)

    and 1 for the first two epochs. Epoch means are over all ranks (all-reduced).
    """

    name = "dwa"

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, temperature: float = 2.0):
        super().__init__(tasks, world_size, seed)
        self.temperature = float(temperature)
        self.history: list[torch.Tensor] = []  # the last two epochs' mean task losses
        self._sum = torch.zeros(len(self.tasks), dtype=torch.float64)
        self._steps = 0
        self._w = torch.ones(len(self.tasks))

    def weights(self) -> torch.Tensor:
        return self._w

    def backward(self, losses: torch.Tensor) -> torch.Tensor:
        self._sum = self._sum.to(losses.device) + losses.detach().double()
        self._steps += 1
        return super().backward(losses)

    def end_epoch(self) -> None:
        mean = self._sum / max(self._steps, 1)
        average([mean], self.world_size)
        self.end_epoch_with(mean.cpu())
        self._sum = torch.zeros(len(self.tasks), dtype=torch.float64)
        self._steps = 0

    def end_epoch_with(self, mean_task_losses: torch.Tensor) -> None:
        """Record one epoch's (global) mean task losses and set the next epoch's weights."""
        self.history = [*self.history, mean_task_losses.double()][-2:]
        self._w = self.weights_from(self.history, self.temperature)

    @staticmethod
    def weights_from(history: Sequence[torch.Tensor], temperature: float) -> torch.Tensor:
        if len(history) < 2:
            return torch.ones(len(history[0]))
        r = history[-1] / history[-2].clamp_min(1e-12)
        return (len(r) * torch.softmax(r / temperature, dim=0)).float()

    def state_dict(self) -> dict:
        return {"history": [h.clone() for h in self.history]}

    def load_state_dict(self, state: dict) -> None:
        self.history = []
        self._w = torch.ones(len(self.tasks))
        for h in state["history"]:
            self.end_epoch_with(h)


@register
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
    per_task_gradients = True

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, alpha: float = 1.5):
        super().__init__(tasks, world_size, seed)
        self.alpha = float(alpha)
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


@register
class DTP(Weighting):
    """``dtp``: dynamic task prioritization (Guo, Haque, Huang, Yeung & Fei-Fei, ECCV 2018).

    Each task's key performance indicator ``κ_t ∈ [0, 1]`` is its training-batch
    accuracy (binary: logit > 0; multiclass: argmax), smoothed per step:
    ``κ_t ← ema · k_t + (1 − ema) · κ_t`` (the first batch sets ``κ_t = k_t``;
    a batch without labels for ``t`` leaves it). Harder tasks (low KPI) get
    larger weights, with focusing parameter ``gamma``:

        w_t = −(1 − κ_t)^γ · log κ_t          (κ_t clamped to [1e-4, 1])

    The batch's KPI enters before its step. Under DDP the correct/labelled
    counts are summed over ranks, so every rank sees the global batch accuracy.
    """

    name = "dtp"
    needs_kpi = True

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, gamma: float = 2.0, ema: float = 0.1):
        super().__init__(tasks, world_size, seed)
        self.gamma = float(gamma)
        self.ema = float(ema)
        self.kpi: torch.Tensor | None = None

    def observe_kpi(self, correct: torch.Tensor, count: torch.Tensor) -> None:
        counts = torch.stack([correct.double(), count.double()])
        if _distributed(self.world_size):
            torch.distributed.all_reduce(counts)
        self.observe(counts[0].cpu(), counts[1].cpu())

    def observe(self, correct: torch.Tensor, count: torch.Tensor) -> None:
        """Update the smoothed KPIs with one global batch's counts."""
        labelled = count > 0
        k = torch.where(labelled, correct / count.clamp_min(1), torch.zeros_like(correct))
        if self.kpi is None:
            self.kpi = torch.where(labelled, k, torch.ones_like(k))
        else:
            self.kpi = torch.where(labelled, self.ema * k + (1 - self.ema) * self.kpi, self.kpi)

    def weights(self) -> torch.Tensor:
        if self.kpi is None:
            return torch.ones(len(self.tasks))
        return self.weights_from(self.kpi, self.gamma)

    @staticmethod
    def weights_from(kpi: torch.Tensor, gamma: float) -> torch.Tensor:
        k = kpi.double().clamp(1e-4, 1.0)
        return (-((1 - k) ** gamma) * torch.log(k)).float()

    def state_dict(self) -> dict:
        return {"kpi": None if self.kpi is None else self.kpi.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.kpi = state["kpi"]


@register
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
    per_task_gradients = True

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0):
        super().__init__(tasks, world_size, seed)
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
