"""Inter-task affinity from one short all-task training run.

Two matrices over the tasks, both measured on the parameters ``θ_s`` of the one
shared encoder of the MTL sharing plan (the task heads are held fixed), on the
current training batch, every ``every_steps`` steps, and averaged over the
measured steps:

* **TAG lookahead affinity** (Fifty et al., NeurIPS 2021, "Efficiently
  Identifying Task Groupings for Multi-Task Learning", eq. 3): for each source
  task ``i`` one lookahead SGD step on the shared parameters with ``L_i`` alone,
  ``θ'_{s|i} = θ_s − η ∇_{θ_s} L_i(θ_s)``, then for every target task ``j``
  ``Z_{i→j} = 1 − L_j(θ'_{s|i}) / L_j(θ_s)`` on the same batch. ``Z[i, j]`` is
  ``Z_{i→j}`` (row = source, column = target); positive means a step on ``i``
  lowers ``j``'s loss.
* **Gradient-cosine affinity**: ``cos(∇_{θ_s} L_i, ∇_{θ_s} L_j)`` (symmetric).

Batched computation, exact: it equals the per-task loop
(:func:`naive_lookahead_affinity`, :func:`naive_gradient_cosine`: T backward and
T forward passes) up to float rounding (``tests/test_affinity.py`` checks it in
float64). Generic path, ``torch.func`` (:func:`_per_task_grads`):

1. the encoder output ``h = f(x; θ_s)`` is computed once, with its ``vjp``;
2. the T cotangents ``∂L_i/∂h`` come from ONE backward pass through the fixed
   heads and the loss (:func:`_block_cotangents`: task ``i``'s loss depends on
   its own logits only); ``impl="func"`` takes the plain ``jacrev`` instead,
   a ``vmap`` of the loss vector's ``vjp`` over the T basis vectors;
3. the T per-task gradients on ``θ_s`` are the encoder's ``vjp`` ``vmap``-ped
   over those T cotangents (the forward activations are shared by all tasks);
4. the T lookahead encoders run as one ``vmap`` of ``functional_call`` over the
   T parameter sets ``θ_s − η g_i``, and the heads and the loss vector as one
   ``vmap`` over the T lookahead features: the T×T lookahead losses.

An :class:`~mtlsearch.models.networks.MLPEncoder` takes a hand-batched path
(:func:`_mlp_lookahead`) with the same numbers: all T tasks' errors are
back-propagated in single matrix products, and a lookahead layer is evaluated
either with its T weight matrices ``W − η δ_iᵀ a`` or, where cheaper (the
first layer when the batch is smaller than twice the input dimension), without
them, as ``a' Wᵀ + b − η (a' aᵀ + 1) δ_i`` — for the first layer ``a' = a = x``,
so one ``B×B`` matrix ``x xᵀ + 1`` serves all T tasks.

The measurement runs with the model in eval mode (dropout off): a measurement is
a deterministic function of ``θ_s`` and the batch. It reads the model and
writes nothing into it (no ``.grad``, no parameter change).

Defaults, from measurements on the synthetic planted-group data (12 binary
tasks in 3 groups, 3,000 samples, MLP [64, 32], batch 128, Adam lr 1e-3; see
``tests/test_affinity.py``):

* ``η = 0.1`` (:data:`DEFAULT_LOOKAHEAD_LR`). ``Z`` is first-order in ``η``
  (``Z(0.3) ≈ 3·Z(0.1)``, ``Z(1) ≈ 9.5·Z(0.1)``), while float32 rounds the loss
  ratio to ~7e-8 absolute whatever ``η`` is: at ``η`` = the Adam lr 1e-3 the
  median ``|Z|`` is ~2e-6 (30 rounding units; 0.4 % rms error per step, a few %
  on a typical entry), at ``η = 0.1`` it is ~2.5e-4 (4e-5 rms relative error vs.
  float64), and ``η = 1`` overshoots (within-group ``Z`` turns negative on a
  model trained with lr 1e-2).
* ``every_steps = 10``. The run length matters most: the heads must first align
  with the shared features (on that data, 17 steps per epoch: 1–3 epochs give
  ARI ≈ 0–0.3 against the planted groups), and a large encoder later gives
  each task features of its own, so within-group affinity fades and late,
  noisier measurements dominate the mean. Exact 3-group partitions
  (TAG's objective, :func:`mtlsearch.grouping.selection.select_groups`) vs. the
  planted groups, seeds 0–9:

  ==================  ======  ======================  =========================
  encoder             epochs  lookahead ARI            gradient cosine ARI
  ==================  ======  ======================  =========================
  [64, 32]            5       1.0 on 0–2; 6/10 = 1.0   same
  [64, 32]            8       1.0 on all 10            1.0 on 9 (one 0.74)
  [64, 32]            10      1.0 on all 10            1.0 on all 10
  [32, 16]            10      1.0 on 9 (one 0.74)      —
  [256, 128]          3–5     1.0 on 8 (0.74, 0.57)    —
  [256, 128]          10      1.0 on 2 only            —
  ==================  ======  ======================  =========================

  (``every_steps = 5``, [64, 32]: lookahead with 10 epochs and gradient cosine
  with 8 give 1.0 on all 10.) So: roughly 140–170 steps for a small encoder,
  fewer for a large one; ``tests/test_affinity.py`` runs [64, 32] for 10 epochs.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

from mtlsearch.grouping.reliability import Calibration
from mtlsearch.models.networks import MLPEncoder
from mtlsearch.models.plan import make_plan
from mtlsearch.train.job import TrainJob

KINDS = ("lookahead", "gradient_cosine")

LossFn = Callable[[dict[str, torch.Tensor], tuple], torch.Tensor]

#: Default lookahead SGD step size η (see :func:`compute_affinity` for why).
DEFAULT_LOOKAHEAD_LR = 0.1


# --- the model's structure ------------------------------------------------------------


def _shared_encoder(model: nn.Module) -> nn.Module:
    encoders = getattr(model, "encoders", None)
    if encoders is None or len(encoders) != 1:
        raise ValueError("affinity is measured on one shared encoder (an MTL or GMHL sharing plan)")
    return encoders[0]


def head_logits(model: nn.Module, h: torch.Tensor) -> dict[str, torch.Tensor]:
    """The task logits of ``model`` (a one-encoder :class:`MultiTaskModel`) from its encoder output ``h``.

    The same computation as the head part of ``MultiTaskModel.forward``
    (``tests/test_affinity.py`` checks ``head_logits(m, encoder(x)) == m(x)``).
    """
    out: dict[str, torch.Tensor] = {}
    for head, names, sizes in zip(model.heads, model._head_tasks, model._head_splits):
        for name, logits in zip(names, torch.split(head(h), sizes, dim=-1)):
            out[name] = logits
    return out


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def _ratio_affinity(lookahead: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    """``1 − L_j(θ'_{s|i}) / L_j(θ_s)``; NaN where ``L_j(θ_s) = 0`` (task ``j`` unlabelled in the batch)."""
    z = 1.0 - lookahead / before.unsqueeze(0)
    return torch.where(before.unsqueeze(0) > 0, z, torch.full_like(z, math.nan))


def _cosine(flat: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine matrix of ``(T, P)`` gradients; NaN for a zero gradient (task unlabelled in the batch).

    Symmetric by construction: a matrix product need not round ``gᵢ·gⱼ`` and ``gⱼ·gᵢ``
    alike (blocked BLAS kernels), so the Gram matrix is averaged with its transpose,
    which IEEE arithmetic makes exactly symmetric.
    """
    gram = flat @ flat.T
    gram = (gram + gram.T) / 2
    norms = gram.diagonal().clamp_min(0).sqrt()  # from the Gram matrix itself, so cos(i, i) = 1 to rounding
    cos = gram / (norms[:, None] * norms[None, :])
    zero = norms == 0
    return cos.masked_fill(zero[:, None] | zero[None, :], math.nan)


# --- batched (torch.func) -------------------------------------------------------------


def _loss_order(model: nn.Module, loss_fn: LossFn) -> list[str]:
    """Task names in the order of ``loss_fn``'s loss vector (a :class:`TaskLoss` knows it; else the model's order)."""
    return list(getattr(loss_fn, "names", None) or model.task_names)


def _stacked_heads(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor, list[str], list[int]]:
    """All heads as one linear map: weight ``(C, H)``, bias ``(C,)``, and the task name and size of each logit block."""
    names: list[str] = []
    sizes: list[int] = []
    for tasks, splits in zip(model._head_tasks, model._head_splits):
        names += tasks
        sizes += splits
    weight = torch.cat([h.weight.detach() for h in model.heads])
    bias = torch.cat([h.bias.detach() for h in model.heads])
    return weight, bias, names, sizes


def _block_cotangents(model: nn.Module, loss_fn: LossFn, h: torch.Tensor, targets: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L(θ_s), ∂L_i/∂h for every i)`` from ONE backward pass through the heads and the loss.

    The cotangents are a ``(T, B, H)`` view of a ``(B, T, H)`` tensor (example-major
    memory, so that :func:`_mlp_lookahead` can treat all tasks in single matrix products).

    Exact because task ``i``'s loss depends on its own logits only and its
    logits are ``h W_iᵀ + b_i`` (the rows ``W_i`` of its head): one backward pass
    of ``Σ_j L_j`` gives every ``∂L_i/∂logits_i``, and ``∂L_i/∂h = ∂L_i/∂logits_i · W_i``.
    The same numbers as ``vmap`` of the loss vector's ``vjp`` over the T basis
    vectors (``impl="func"``), without T backward passes through the heads.
    """
    weight, bias, names, sizes = _stacked_heads(model)
    with torch.enable_grad():
        logits = torch.addmm(bias, h.detach(), weight.T).requires_grad_()
        losses = loss_fn(dict(zip(names, torch.split(logits, sizes, dim=1))), targets)
        (g,) = torch.autograd.grad(losses.sum(), logits)  # (B, C): column c = ∂L_owner(c) / ∂logit_c
    before = losses.detach()
    order = {n: i for i, n in enumerate(_loss_order(model, loss_fn))}
    owner = torch.tensor([order[n] for n, c in zip(names, sizes) for _ in range(c)], device=h.device)
    cot = torch.zeros(h.shape[0], before.shape[0], h.shape[1], dtype=h.dtype, device=h.device)  # (B, T, H) in memory
    cot.index_add_(1, owner, g.unsqueeze(2) * weight.unsqueeze(0))  # (B, C, H) summed into each owner task
    return before, cot.transpose(0, 1)  # (T, B, H)


def _per_task_grads(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, targets: tuple, block: bool = True):
    """(θ_s, T per-task gradients as a dict of ``(T, *shape)``, L(θ_s), encoder fn, loss-of-features fn)."""
    enc = _shared_encoder(model)
    params = {k: v.detach() for k, v in enc.named_parameters()}
    buffers = {k: v.detach() for k, v in enc.named_buffers()}

    def encode(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(enc, (p, buffers), (x,))

    def losses_of(h: torch.Tensor) -> torch.Tensor:
        return loss_fn(head_logits(model, h), targets)

    h, enc_vjp = vjp(encode, params)  # 1. the encoder output once
    if block:
        before, cotangents = _block_cotangents(model, loss_fn, h, targets)
    else:  # jacrev of the loss vector w.r.t. h: vmap of its vjp over the T basis vectors
        before, loss_vjp = vjp(losses_of, h)
        eye = torch.eye(before.shape[0], dtype=before.dtype, device=before.device)
        (cotangents,) = vmap(loss_vjp)(eye)  # 2. (T, B, H): ∂L_i/∂h for every i
    (grads,) = vmap(enc_vjp)(cotangents)  # 3. (T, ...) per-task gradients on θ_s
    return params, grads, before, encode, losses_of


IMPLS = ("auto", "func", "func-block", "mlp", "mlp-gram", "mlp-weight")


def lookahead_affinity(
    model: nn.Module, loss_fn: LossFn, x: torch.Tensor, targets: tuple, lr: float, impl: str = "auto"
) -> torch.Tensor:
    """TAG lookahead affinity of one batch, batched: ``(T, T)``, ``[i, j] = Z_{i→j}``.

    ``Z_{i→j} = 1 − L_j(θ_s − η ∇_{θ_s} L_i) / L_j(θ_s)`` (Fifty et al. 2021, eq. 3),
    ``θ_s`` the shared encoder's parameters, the heads fixed, ``η = lr``. NaN in
    column ``j`` when task ``j`` has no label in the batch.

    ``impl`` (all give the same numbers): ``"auto"`` = ``"mlp"`` for an
    :class:`MLPEncoder`, else ``"func-block"``; ``"func"``: plain ``torch.func``
    (steps 1–4 of the module docstring); ``"func-block"``: the same with the T
    feature cotangents from one backward pass (:func:`_block_cotangents`);
    ``"mlp"``, ``"mlp-gram"``, ``"mlp-weight"``: :func:`_mlp_lookahead`, each
    layer's form chosen by cost or forced.
    """
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; expected one of {IMPLS}")
    with _eval_mode(model), torch.no_grad():
        enc = _shared_encoder(model)
        if impl.startswith("mlp") or (impl == "auto" and _is_plain_mlp(enc)):
            if not _is_plain_mlp(enc):
                raise ValueError(f"impl {impl!r} needs an MLPEncoder of (Linear, ReLU[, Dropout]) layers")
            return _mlp_lookahead(model, enc, loss_fn, x, targets, lr, {"mlp-gram": True, "mlp-weight": False}.get(impl))
        params, grads, before, encode, losses_of = _per_task_grads(model, loss_fn, x, targets, block=impl != "func")
        looked = {k: params[k].unsqueeze(0) - lr * grads[k] for k in params}
        after = vmap(losses_of)(vmap(encode)(looked))  # 4. (T, T): [i, j] = L_j(θ'_{s|i})
        return _ratio_affinity(after, before)


def gradient_cosine_affinity(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, targets: tuple) -> torch.Tensor:
    """Cosine of the per-task gradients on the shared encoder's parameters, batched: ``(T, T)``."""
    with _eval_mode(model), torch.no_grad():
        _, grads, before, _, _ = _per_task_grads(model, loss_fn, x, targets)
        flat = torch.cat([g.reshape(before.shape[0], -1) for g in grads.values()], dim=1)
        return _cosine(flat)


def _is_plain_mlp(enc: nn.Module) -> bool:
    """An :class:`MLPEncoder` whose layers are ``(Linear, ReLU[, Dropout])*`` (what :func:`_mlp_lookahead` assumes)."""
    if not isinstance(enc, MLPEncoder):
        return False
    kinds = [type(m) for m in enc.net if not isinstance(m, nn.Dropout)]
    return len(kinds) > 0 and kinds == [nn.Linear, nn.ReLU] * (len(kinds) // 2)


def _mlp_lookahead(
    model: nn.Module, enc: MLPEncoder, loss_fn: LossFn, x: torch.Tensor, targets: tuple, lr: float, gram: bool | None = None
) -> torch.Tensor:
    """:func:`lookahead_affinity` for an MLP encoder, batched by hand over the T tasks (same numbers).

    Layers ``z_l = a_{l−1} W_lᵀ + b_l``, ``a_l = relu(z_l)`` (dropout is off in
    eval mode). With ``δ_{l,i} = ∂L_i/∂z_l`` (``(T, B, out)``, back-propagated for
    all tasks at once from :func:`_block_cotangents`), task ``i``'s gradient is
    ``(δ_{l,i}ᵀ a_{l−1}, 1ᵀ δ_{l,i})`` and its lookahead pre-activation, on the
    lookahead input ``a'_{l−1,i}``, is
    ``a'_{l−1,i} W_lᵀ + b_l − η (a'_{l−1,i} a_{l−1}ᵀ + 1) δ_{l,i}`` (the "Gram"
    form) or ``a'_{l−1,i} (W_l − η δ_{l,i}ᵀ a_{l−1})ᵀ + (b_l − η 1ᵀ δ_{l,i})`` (the
    "weight" form). Per task and example the Gram form costs ``B·out`` for the
    first layer (``a' = a = x``: the pre-activation ``z_1`` and one ``B×B``
    matrix ``x xᵀ + 1`` serve all tasks) and ``B·(in + out) + in·out`` for a later
    one, the weight form ``2·in·out``; each layer takes the cheaper one unless
    ``gram`` forces it. The heads run as one stacked linear map.
    """
    linears = [m for m in enc.net if isinstance(m, nn.Linear)]
    # forward at θ_s, keeping each layer's input, pre-activation and ReLU mask
    inputs, pre, masks = [], [], []
    a = x
    for lin in linears:
        inputs.append(a)
        z = torch.addmm(lin.bias, a, lin.weight.T)
        pre.append(z)
        masks.append(z > 0)
        a = z.clamp(min=0)
    before, cot = _block_cotangents(model, loss_fn, a, targets)
    t, b = before.shape[0], x.shape[0]
    # back-propagate the T errors together; δ_l lives as (B, T, out) in memory: one matrix product per layer
    deltas: list[torch.Tensor] = []
    delta = cot.transpose(0, 1)  # (B, T, H_L), contiguous
    for layer in range(len(linears) - 1, -1, -1):
        delta.mul_(masks[layer].unsqueeze(1))
        deltas.insert(0, delta)
        if layer > 0:
            delta = (delta.reshape(b * t, -1) @ linears[layer].weight).view(b, t, -1)
    # the T lookahead forwards; a_la: the layer's lookahead input as a (T, B, in) view
    a_la = None
    for layer, lin in enumerate(linears):
        out_f, in_f = lin.weight.shape
        d = deltas[layer]  # (B, T, out)
        use_gram = (b < 2 * in_f if layer == 0 else b * (in_f + out_f) < in_f * out_f) if gram is None else gram
        if use_gram and layer == 0:  # z_1 − η (x xᵀ + 1) δ_1: one (B, B) × (B, T·out) product
            k = torch.addmm(torch.ones(b, b, dtype=x.dtype, device=x.device), x, x.T, beta=-lr, alpha=-lr)
            z = (k @ d.reshape(b, t * out_f)).view(b, t, out_f).add_(pre[0].unsqueeze(1)).transpose(0, 1)
        elif use_gram:  # a' Wᵀ + b − η (a' aᵀ + 1) δ
            k = torch.matmul(a_la, inputs[layer].T).add_(1.0)  # (T, B, B)
            z = torch.baddbmm(torch.matmul(a_la, lin.weight.T).add_(lin.bias), k, d.transpose(0, 1), alpha=-lr)
        else:  # a' (W − η δᵀ a)ᵀ + (b − η 1ᵀ δ)
            w_la = (d.reshape(b, t * out_f).T @ inputs[layer]).view(t, out_f, in_f).mul_(-lr).add_(lin.weight)
            b_la = torch.add(lin.bias, d.sum(dim=0), alpha=-lr)  # (T, out)
            if layer == 0:  # a' = x for every task: one (B, in) × (in, T·out) product
                z = (x @ w_la.view(t * out_f, in_f).T).view(b, t, out_f).add_(b_la).transpose(0, 1)
            else:
                z = torch.bmm(a_la, w_la.transpose(1, 2)).add_(b_la.unsqueeze(1))
        a_la = z.clamp_(min=0)
    weight, bias, names, sizes = _stacked_heads(model)
    logits_la = torch.split(torch.matmul(a_la, weight.T).add_(bias), sizes, dim=2)  # the T×T head outputs at once
    after = vmap(lambda lg: loss_fn(dict(zip(names, lg)), targets))(logits_la)  # (T, T): [i, j] = L_j(θ'_{s|i})
    return _ratio_affinity(after, before)


# --- the per-task reference loop -------------------------------------------------------


def _naive_grads(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, targets: tuple):
    enc = _shared_encoder(model)
    prefix = next(n for n, m in model.named_modules() if m is enc)
    names = [n for n, _ in enc.named_parameters()]
    shared = [p for _, p in enc.named_parameters()]
    before = loss_fn(model(x), targets)
    grads = []
    for i in range(before.shape[0]):  # T backward passes
        grads.append(torch.autograd.grad(before[i], shared, retain_graph=True, allow_unused=True))
    grads = [[torch.zeros_like(p) if g is None else g for g, p in zip(gs, shared)] for gs in grads]
    return prefix, names, shared, before.detach(), grads


def naive_lookahead_affinity(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, targets: tuple, lr: float) -> torch.Tensor:
    """Reference for :func:`lookahead_affinity`: T backward passes, then T lookahead forward passes, one task at a time."""
    with _eval_mode(model):
        prefix, names, shared, before, grads = _naive_grads(model, loss_fn, x, targets)
        rows = []
        with torch.no_grad():
            for g in grads:  # T forward passes
                looked = {f"{prefix}.{n}": p - lr * gi for n, p, gi in zip(names, shared, g)}
                rows.append(loss_fn(functional_call(model, looked, (x,)), targets))
        return _ratio_affinity(torch.stack(rows), before)


def naive_gradient_cosine(model: nn.Module, loss_fn: LossFn, x: torch.Tensor, targets: tuple) -> torch.Tensor:
    """Reference for :func:`gradient_cosine_affinity`: per-task gradients from T separate backward passes."""
    with _eval_mode(model):
        _, _, _, _, grads = _naive_grads(model, loss_fn, x, targets)
        return _cosine(torch.stack([torch.cat([g.reshape(-1) for g in gs]) for gs in grads]))


# --- one training run ----------------------------------------------------------------------


@dataclass
class AffinityResult:
    kind: str  # "lookahead" | "gradient_cosine"
    task_names: list[str]
    matrix: np.ndarray  # (T, T) mean over the measured steps; [i, j] = affinity of source i onto target j
    steps_measured: int
    seconds: float
    reliability: dict = field(default_factory=dict)  # mtlsearch.grouping.reliability.Calibration.report


def compute_affinity(
    job: TrainJob,
    kind: str = "lookahead",
    every_steps: int = 10,
    epochs: int = 1,
    lookahead_lr: float | None = None,
    ks: Sequence[int] | None = None,
    calibrate: bool = False,
) -> AffinityResult:
    """Train all of ``job``'s tasks on one shared encoder (MTL plan) for ``epochs`` epochs (``calibrate``: at most),
    measuring the affinity.

    Everything else (data, encoder, batch size, optimiser, lr, seed, threads) is
    the job's. The affinity of the current batch is measured before the optimizer
    step of global steps 0, ``every_steps``, ``2·every_steps``, ... and averaged
    (an entry's mean skips steps where it is undefined: a task without a label
    in the batch; an entry never defined is 0).

    Every epoch's end is a check of :mod:`mtlsearch.grouping.reliability`; the
    result's ``reliability`` reports them. With ``calibrate`` the run decides its
    own length: it stops at the end of the first epoch (after the first) whose
    mean transfer (mean off-diagonal affinity of that epoch's measurements) is
    negative, leaving that epoch out, or at the cap ``epochs``; its matrix is the
    running mean of its most reliable check (highest split-half r). The result's
    ``reliability`` says how it ended. Without ``calibrate`` it runs exactly
    ``epochs`` epochs and the matrix is the mean over all of them.

    ``lookahead_lr`` (η of the lookahead SGD step) defaults to
    :data:`DEFAULT_LOOKAHEAD_LR` (why: the module docstring).
    """
    from mtlsearch.train.trainer import MultiTaskTrainer

    if kind not in KINDS:
        raise ValueError(f"unknown affinity kind {kind!r}; expected one of {KINDS}")
    if every_steps < 1 or epochs < 1:
        raise ValueError("every_steps and epochs must be >= 1")
    lr = DEFAULT_LOOKAHEAD_LR if lookahead_lr is None else float(lookahead_lr)
    names = [t.name for t in job.tasks]
    run = replace(job, plan=make_plan("MTL", names), epochs=epochs, baselines={})
    device = torch.device("cuda") if job.use_gpu and torch.cuda.is_available() else None
    t0 = time.perf_counter()
    trainer = MultiTaskTrainer(run, device=device)
    x_all, targets_all = trainer.data["train"][0], trainer.train_targets
    t = len(trainer.tasks)
    calibration = Calibration(list(ks) if ks is not None else list(range(2, min(5, t - 1) + 1)), seed=job.seed, stops=calibrate)
    measurements: list[np.ndarray] = []
    step = 0

    def hook(_: int, idx: torch.Tensor) -> None:
        nonlocal step
        if step % every_steps == 0:
            xb, tb = x_all[idx], tuple(a[idx] for a in targets_all)
            if kind == "lookahead":
                m = lookahead_affinity(trainer.model, trainer.loss_fn, xb, tb, lr)
            else:
                m = gradient_cosine_affinity(trainer.model, trainer.loss_fn, xb, tb)
            measurements.append(m.double().cpu().numpy())
        step += 1

    for epoch in range(epochs):
        trainer.train_epoch(epoch, step_hook=hook)
        if calibration.check(measurements, epoch + 1):  # only a calibrated run (stops) says stop
            break
    if not measurements:
        matrix = np.zeros((t, t))
    else:
        matrix = calibration.matrix(measurements)[0]
    return AffinityResult(
        kind,
        [tk.name for tk in trainer.tasks],
        matrix,
        len(measurements),
        time.perf_counter() - t0,
        calibration.report(measurements, epochs),
    )
