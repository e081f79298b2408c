"""Loss-weighting strategies: how the per-task losses ``L_t`` of a batch become gradients.

One small class per strategy, each in its own module of this package with its
``Options`` beside it, registered in :data:`WEIGHTINGS` by its spec name
(``train.weighting.name``); a plugin registers one more with
``@WEIGHTINGS.register`` (:mod:`mtlsearch.plugins`). The trainer calls, per step,
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

from typing import TYPE_CHECKING, Sequence

from pydantic import BaseModel

from mtlsearch.plugins import Registry, trusted_options

if TYPE_CHECKING:
    from mtlsearch.train.weightings.base import Weighting

WEIGHTINGS: Registry = Registry(
    "weighting",
    {
        name: f"mtlsearch.train.weightings.{name}"
        for name in ("equal", "static", "uncertainty", "dwa", "gradnorm", "dtp", "pcgrad")
    },
)
"""Every loss-weighting strategy by name: the built-ins (imported when first asked for) and the registered plugins."""


def make_weighting(options: BaseModel | dict | None, tasks: Sequence[str], world_size: int = 1, seed: int = 0) -> "Weighting":
    """The strategy ``options`` names (``{"name": ..., **options}`` or its ``Options``; default ``equal``) for ``tasks``."""
    options = options if options is not None else {}
    name = options.get("name", "equal") if isinstance(options, dict) else options.name
    if name not in WEIGHTINGS:
        raise ValueError(WEIGHTINGS.unknown(name))
    cls = WEIGHTINGS.get(name)
    return cls(tasks, world_size=world_size, seed=seed, options=trusted_options(cls, options))
