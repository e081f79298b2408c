"""What every loss-weighting strategy shares: the :class:`Weighting` base, rank averaging, the shared parameters.

The strategies (one file each in this package) subclass :class:`Weighting`;
the package docstring says how the trainer drives them and what each one does
under DDP. torch is imported on first use (:class:`~mtlsearch.plugins.LazyModule`),
so reading a strategy's ``Options`` while a spec is validated stays light.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

from mtlsearch.plugins import LazyModule, PluginOptions

torch = LazyModule("torch")
nn = LazyModule("torch.nn")


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

    Construct with the task names (model order), ``world_size``, ``seed`` and
    the strategy's validated ``Options`` (default: its defaults); then
    :meth:`bind` the model's parameters.
    """

    name: ClassVar[str]
    Options: ClassVar[type[PluginOptions]]
    per_task_gradients: ClassVar[bool] = False  # True: the trainer bypasses DDP; backward averages gradients itself
    needs_kpi: ClassVar[bool] = False  # True: the trainer calls observe_kpi(correct, count) before backward

    def __init__(self, tasks: Sequence[str], world_size: int = 1, seed: int = 0, options: PluginOptions | None = None):
        self.options = options if options is not None else self.Options()
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
