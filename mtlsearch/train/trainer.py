"""The multitask training core: data, optimisation step, evaluation, per-model epoch selection.

Plain PyTorch, no Ray: :mod:`mtlsearch.train.loop` runs it in a Tune trial, a
Ray Train worker or a Ray task. With ``world_size`` workers, each epoch draws one permutation of the
training set from ``seed + epoch``; global batch ``k`` is
``perm[k·B : (k+1)·B]`` and worker ``r`` takes every ``world_size``-th element
of it, so a DDP run sees exactly the batches of a one-worker run with the same
global batch size ``B``.

Each step's per-task losses go to the job's loss weighting
(:mod:`mtlsearch.train.weightings`), which leaves the gradients in ``.grad``;
``equal`` (the default) is the plain ``Σ_t L_t`` backward through DDP.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from mtlsearch.data.canonical import TaskInfo, read_info, read_splits
from mtlsearch.data.distribute import local_table
from mtlsearch.metrics.delta_m import delta_m
from mtlsearch.metrics.multilabel import multilabel_scores
from mtlsearch.metrics.result_keys import (
    AUROC,
    BEST_EPOCH,
    BEST_TEST,
    BEST_VAL,
    COPY_BEST_TEST,
    COPY_BEST_VAL,
    COST,
    DM_TEST,
    DM_VAL,
    EPOCH,
    EPOCH_DM_TEST,
    EPOCH_DM_VAL,
    SAMPLES_PER_S,
    SENSITIVITY,
    SERVED_BY,
    SPECIFICITY,
    TEST,
    THRESHOLD,
    TRAIN_LOSS,
    VAL,
    WEIGHT,
    extra_key,
    multilabel_key,
    served_task_keys,
    task_key,
    tim_key,
)
from mtlsearch.metrics.scores import auroc, icbhi_sensitivity, icbhi_specificity
from mtlsearch.metrics.task_metrics import METRICS
from mtlsearch.metrics.thresholds import VAL_TUNED, tune_threshold
from mtlsearch.models.cross_task_attention import TimAccumulator
from mtlsearch.models.encoders import encoder_plugin
from mtlsearch.models.multitask import MultiTaskModel
from mtlsearch.plugins import trusted_options
from mtlsearch.spec.settings import CoTaskSpec
from mtlsearch.tasks.auxiliary import attach_auxiliary
from mtlsearch.train.job import TrainJob
from mtlsearch.train.losses import TaskLoss, inverse_frequency_weights
from mtlsearch.train.optimizers import make_optimizer
from mtlsearch.train.sampler import TaskAwareSampler, major_task_probs
from mtlsearch.train.selection import ModelSelection
from mtlsearch.train.serving import copy_baselines, served_copies, train_copies
from mtlsearch.train.weightings import make_weighting

EVAL_BATCH = 8192


def predict(logits: torch.Tensor, task: TaskInfo) -> torch.Tensor:
    """Class index per example: positive when the logit is > 0 (p > 0.5) for binary, argmax for multiclass."""
    if task.kind == "binary":
        return (logits[:, 0] > 0).to(torch.int64)
    return logits.argmax(dim=1)


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_seconds: float
    eval_seconds: float
    samples: int
    val: dict[str, float]
    test: dict[str, float]
    val_extra: dict[str, float] = field(default_factory=dict)  # secondary metrics (see MultiTaskTrainer.evaluate_all)
    test_extra: dict[str, float] = field(default_factory=dict)


class MultiTaskTrainer:
    """Trains one :class:`MultiTaskModel` on one rank of a (possibly distributed) run."""

    def __init__(self, job: TrainJob, rank: int = 0, world_size: int = 1, device: torch.device | None = None):
        self.job = job
        self.rank, self.world_size = rank, world_size
        self.device = device or torch.device("cpu")
        if job.torch_threads:
            torch.set_num_threads(job.torch_threads)
        torch.manual_seed(job.seed)
        plan = job.plan
        by_name = {t.name: t for t in job.tasks}
        self.tasks = [by_name[n] for n in plan.source_tasks]  # each task once (overlapping groups: copies below)
        # on another node than the launcher's, the table is copied from the results store first
        dataset_path = local_table(job.dataset_path, job.dataset_uri)
        splits = read_splits(dataset_path, [t.name for t in self.tasks])
        inputs = {s: a.x for s, a in splits.items()}
        encoder = encoder_plugin(job.encoder)  # e.g. a text encoder reads the cached token ids instead of the features
        inputs = encoder.read_inputs(trusted_options(encoder, job.encoder), dataset_path, inputs)
        labels = {s: a.y for s, a in splits.items()}
        self.tasks, plan, labels, self.aux_tasks = attach_auxiliary(
            job.cotask,
            self.tasks,
            plan,
            labels,
            job.seed,
        )
        # overlapping groups: one trained copy (task record, label column) per head group of a task (train.serving)
        self.tasks, plan, labels, self.sources = train_copies(self.tasks, plan, labels, [a.name for a in self.aux_tasks])
        self.data = {
            s: (torch.from_numpy(np.ascontiguousarray(inputs[s])).to(self.device), torch.from_numpy(labels[s]).to(self.device))
            for s in splits
        }
        y_train = self.data["train"][1]
        weights = inverse_frequency_weights(y_train, self.tasks, job.class_weighted) if job.class_weighted else None
        self.loss_fn = TaskLoss(self.tasks, complete=bool((y_train >= 0).all()), class_weights=weights)
        self.sampler = self._task_sampler(job.cotask, labels["train"])
        self.train_targets = self.loss_fn.targets(y_train)
        in_dim = self.data["train"][0].shape[1]
        shape = read_info(dataset_path).extra.get("feature_shape")  # spectrogram encoders need (frames, mel bins)
        self.model = MultiTaskModel(
            plan, self.tasks, job.encoder, in_dim, job.seed, input_shape=tuple(shape) if shape else None
        ).to(self.device)
        # spectrogram encoders hold big activations per example: evaluate in smaller chunks
        self.eval_batch = min([EVAL_BATCH, *(getattr(e, "eval_batch", EVAL_BATCH) for e in self.model.encoders)])
        self.ddp_model: nn.Module = self.model
        if world_size > 1:
            if self.device.type == "cuda":  # batch statistics over the global batch, as one worker would see it
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            # (torch's SyncBatchNorm has no CPU kernel: on CPU each worker normalises with its own half-batch's
            # statistics, while DDP keeps the running statistics equal by broadcasting rank 0's buffers)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.weighting = make_weighting(job.weighting, [t.name for t in self.tasks], world_size, seed=job.seed).bind_model(
            self.model
        )
        # strategies that need each task's gradient run the unwrapped model and average gradients themselves
        self.train_model = self.model if self.weighting.per_task_gradients else self.ddp_model
        self._sync_buffers = [b for b in self.model.buffers()] if world_size > 1 and self.train_model is self.model else []
        extra = self.weighting.extra_parameters()
        params = (
            self.model.parameters()
            if not extra
            else [{"params": list(self.model.parameters())}, {"params": extra, "weight_decay": 0.0}]
        )
        self.optimizer = make_optimizer(job.optimizer, params, job.lr, job.weight_decay)
        # bf16 autocast on CUDA only (the spec's train.mixed_precision); a no-op context elsewhere
        self.amp = self.device.type == "cuda" and job.mixed_precision == "bf16"
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp)
        # every separately trained model keeps its own best validation epoch (mtlsearch.train.selection)
        self.best = ModelSelection.for_plan(self.model.plan, self.tasks, copy_baselines(job.baselines, self.sources))
        self._ml_predictions: dict[str, dict[str, np.ndarray]] = {}  # split -> binary primary task -> this epoch's decisions
        self._selected_predictions: dict[str, dict[str, np.ndarray]] = {}  # ... at each task's selected epoch
        self.thresholds: dict[str, float] = {}  # binary task -> τ chosen on this epoch's val split (val_tuned)
        self.epoch_tim: dict[str, dict[str, float]] = {}  # cross-task attention: the last val pass's TIM rows
        self._selected_tim: dict[str, dict[str, float]] = {}  # ... at each task's selected epoch
        self.start_epoch = 0
        self.cost_worker_seconds = 0.0

    def _task_sampler(self, cotask: CoTaskSpec, y_train: np.ndarray) -> TaskAwareSampler | None:
        """CO-TASK's task-aware imbalance sampler over every trained task (auxiliary ones included), if on."""
        if not cotask.sampler:
            return None
        names = [t.name for t in self.tasks]
        # every copy of a major task (an unknown name stays, for major_task_probs to name)
        major = [n for n in names if self.sources[n] in cotask.major] + sorted(set(cotask.major) - set(self.sources.values()))
        probs = major_task_probs(names, major, cotask.major_prob) if cotask.pick == "major" else None
        labelled = (y_train >= 0).any(axis=0)
        if probs is None:
            probs = labelled / labelled.sum()
        else:
            probs = np.where(labelled, probs, 0.0)
        return TaskAwareSampler(y_train, names, self.job.batch_size, self.job.seed, task_probs=probs)

    # -- state -----------------------------------------------------------------

    def state_dict(self, epoch: int) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "weighting": self.weighting.state_dict(),
            "epoch": epoch,
            "best": self.best.state(),
            "selected_predictions": self._selected_predictions,
            "selected_tim": self._selected_tim,
            "cost_worker_seconds": self.cost_worker_seconds,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "weighting" in state:
            self.weighting.load_state_dict(state["weighting"])
        self.start_epoch = state["epoch"] + 1
        self.best.load(state["best"])
        self._selected_predictions = {k: dict(v) for k, v in (state.get("selected_predictions") or {}).items()}
        self._selected_tim = {k: dict(v) for k, v in (state.get("selected_tim") or {}).items()}
        self.cost_worker_seconds = state["cost_worker_seconds"]

    # -- training ----------------------------------------------------------------

    def _shard(self, epoch: int) -> torch.Tensor:
        n = self.data["train"][0].shape[0]
        gen = torch.Generator().manual_seed(self.job.seed * 100_003 + epoch)
        perm = torch.randperm(n, generator=gen)
        per_rank = n // self.world_size
        # element i of rank r is perm[i·world + r]: global batch k is perm[k·B:(k+1)·B]
        return perm[: per_rank * self.world_size].view(per_rank, self.world_size)[:, self.rank].to(self.device)

    def train_epoch(self, epoch: int, step_hook: Callable[[int, torch.Tensor], None] | None = None) -> tuple[float, int]:
        """One pass over this rank's shard; returns (mean training loss, samples seen by this rank).

        ``step_hook(step, idx)``, if given, is called before each batch's forward pass
        (so before its optimizer step) with the step number in this epoch and the
        batch's indices into the training split (TAG affinity measurement uses it).
        """
        x_all = self.data["train"][0]
        model, weighting = self.train_model, self.weighting
        model.train()
        loss_sum = torch.zeros((), device=self.device)
        steps = 0
        for idx, picked in self._batches(epoch):
            if step_hook is not None:
                step_hook(steps, idx)
            for b in self._sync_buffers:  # as DDP does: rank 0's buffers (batch-norm statistics) before each forward
                torch.distributed.broadcast(b, 0)
            with self.autocast:
                logits = model(x_all[idx])
            logits = {k: v.float() for k, v in logits.items()} if self.amp else logits
            losses = self.loss_fn(logits, tuple(t[idx] for t in self.train_targets))
            if picked is not None:  # CO-TASK sampler: the step trains the picked task's loss only
                losses = losses * picked
            self.optimizer.zero_grad(set_to_none=True)
            if weighting.needs_kpi:
                weighting.observe_kpi(*self._batch_kpi(logits, idx))
            loss = weighting.backward(losses)  # unweighted Σ_t L_t, detached
            if self.model.plan.soft:  # soft sharing: + λ Σ_{t<s} Σ_{l∈S} ‖θ_t^l − θ_s^l‖², its gradient added in place
                loss = loss + self.model.regularizer_backward()
            self.optimizer.step()
            weighting.after_step()
            loss_sum += loss
            steps += 1
        weighting.end_epoch()
        if self.world_size > 1:  # report the mean over all ranks, not rank 0's half of each batch
            torch.distributed.all_reduce(loss_sum)
            loss_sum /= self.world_size
        return float(loss_sum) / max(steps, 1), self._rank_samples

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """This rank's ``(indices, picked-task one-hot or None)`` per step of ``epoch``.

        Default: the rank's share of the epoch's seeded permutation (see the module
        docstring). With the CO-TASK sampler: each global batch comes from
        :meth:`TaskAwareSampler.draw` (a pure function of seed, epoch and step) and
        the rank takes every ``world_size``-th element, as for the permutation.
        """
        if self.sampler is None:
            shard = self._shard(epoch)
            local_bs = max(1, self.job.batch_size // self.world_size)
            self._rank_samples = int(shard.numel())
            for start in range(0, shard.numel(), local_bs):
                yield shard[start : start + local_bs], None
            return
        self._rank_samples = 0
        eye = torch.eye(len(self.tasks), device=self.device)
        for step in range(self.sampler.steps_per_epoch):
            task, idx = self.sampler.draw(epoch, step)
            local = torch.from_numpy(TaskAwareSampler.rank_share(idx, self.rank, self.world_size)).to(self.device)
            self._rank_samples += int(local.numel())
            yield local, eye[task]

    @torch.no_grad()
    def _batch_kpi(self, logits: dict[str, torch.Tensor], idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per task, this rank's correct predictions and labelled examples in a training batch (DTP's KPI)."""
        y = self.data["train"][1][idx]
        mask = y >= 0
        pred = torch.stack([predict(logits[t.name], t) for t in self.tasks], dim=1)
        return ((pred == y) & mask).sum(dim=0).double(), mask.sum(dim=0).double()

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """Each task's primary metric on ``split`` (labelled examples only)."""
        return self.evaluate_all(split)[0]

    @torch.no_grad()
    def evaluate_all(self, split: str) -> tuple[dict[str, float], dict[str, float]]:
        """``(primary, extra)`` on ``split`` from one forward pass, each over labelled examples only.

        ``primary``: each task's primary metric (what Δm and epoch selection use,
        :data:`~mtlsearch.metrics.task_metrics.METRICS`): of its decisions, or of its
        probabilities when it is a threshold-free one (``scores == "probabilities"``,
        ``evaluation.metric``).
        ``extra``: secondary numbers that select nothing:

        * ``auroc/<task>``: AUROC from the sigmoid (binary) or softmax
          (multiclass, one-vs-rest macro) probabilities; NaN when a class is absent;
        * ``sp/<task>``, ``se/<task>``: ICBHI specificity and sensitivity (class 0
          normal) for tasks whose primary metric is ``icbhi_score``;
        * ``ml_macro_f1``, ``ml_micro_f1``, ``ml_subset_acc``: when there are at
          least two primary binary tasks, those tasks read as one multi-label
          problem (:mod:`mtlsearch.metrics.multilabel`: per-label masking of missing
          labels for F1, fully labelled examples for subset accuracy). With overlapping
          groups each task counts once, by the copy that serves it in the selection so far
          (:meth:`served`; the selected multi-label scores of :meth:`metrics` use the final one).

        * ``threshold/<task>``: the decision threshold τ of a binary task under ``val_tuned``
          (see :meth:`_decision_metric`).

        Decisions (:mod:`mtlsearch.metrics.thresholds`): with the job's ``thresholds``
        ``val_tuned``, such a task is positive at p ≥ τ, τ chosen on ``val`` (so
        evaluate ``val`` first in an epoch; other splits use that τ unchanged); with
        ``fixed``, at p > 0.5 (logit > 0). A multiclass task takes the argmax.

        On ``val`` with cross-task attention, the epoch's TIM (the mean attention over the
        split's examples, :mod:`mtlsearch.models.cross_task_attention`) is kept for :meth:`run_epoch`.
        """
        x, y = self.data[split]
        self.model.eval()
        tim = TimAccumulator([list(g) for g in self.model.plan.encoder_groups])
        record_tim = split == VAL and self.model.plan.attention
        self.model.keep_attention(record_tim)
        chunks = []
        with self.autocast:
            for i in range(0, x.shape[0], self.eval_batch):
                chunks.append(self.model(x[i : i + self.eval_batch]))
                if record_tim:
                    tim.add(self.model.last_attention())
        self.model.keep_attention(False)
        if record_tim:
            self.epoch_tim = tim.rows()
        if self.amp:
            chunks = [{k: v.float() for k, v in c.items()} for c in chunks]
        scores: dict[str, float] = {}
        extra: dict[str, float] = {}
        binary = [j for j, t in enumerate(self.tasks) if t.kind == "binary" and t.role == "primary"]
        multilabel = self._served_columns(binary)  # each task once: its serving copy (overlapping groups)
        ml_pred = {}
        for j, task in enumerate(self.tasks):
            logits = torch.cat([c[task.name] for c in chunks]) if chunks else torch.zeros(0, task.num_outputs, device=self.device)
            mask = y[:, j] >= 0
            true = y[:, j][mask].cpu().numpy()
            # float64: a float32 sigmoid saturates to exactly 1.0 above logit ≈ 17, tying confident positives in the ranks
            probs = torch.sigmoid(logits[:, 0].double()) if task.kind == "binary" else torch.softmax(logits.double(), dim=1)
            labelled = probs[mask].cpu().numpy()  # the labelled examples' probabilities, float64, on the host
            decided_by = self._decision_metric(task)
            if decided_by is not None:  # τ chosen on val this epoch, applied unchanged to the other splits
                if split == "val":
                    self.thresholds[task.name] = tune_threshold(labelled, true, decided_by)
                tau = self.thresholds.get(task.name, 0.5)
                pred_all = (probs >= tau).to(torch.int64)
                extra[task_key(THRESHOLD, task.name)] = tau
            else:
                pred_all = predict(logits, task)
            pred = pred_all[mask].cpu().numpy()
            k = len(task.classes)
            if len(true):
                metric = METRICS[task.metric]
                scores[task.name] = metric(labelled if metric.scores == "probabilities" else pred, true, k)
            else:
                scores[task.name] = math.nan
            extra[task_key(AUROC, task.name)] = auroc(labelled, true, k) if len(true) else math.nan
            if task.metric == "icbhi_score":
                extra[task_key(SPECIFICITY, task.name)] = icbhi_specificity(pred, true, k)
                extra[task_key(SENSITIVITY, task.name)] = icbhi_sensitivity(pred, true, k)
            if len(multilabel) >= 2 and j in binary:
                ml_pred[j] = pred_all
        if len(multilabel) >= 2:
            stacked = torch.stack([ml_pred[j] for j in binary], dim=1).cpu().numpy()
            self._ml_predictions[split] = {self.tasks[j].name: stacked[:, i] for i, j in enumerate(binary)}
            served = np.stack([self._ml_predictions[split][self.tasks[j].name] for j in multilabel], axis=1)
            ml = multilabel_scores(served, y[:, multilabel].cpu().numpy())
            extra.update({multilabel_key(k): v for k, v in ml.items()})
        return scores, extra

    def _decision_metric(self, task: TaskInfo) -> str | None:
        """The metric ``task``'s decision threshold is chosen on validation to maximise
        (:mod:`mtlsearch.metrics.thresholds`), or None for decisions at p > 0.5 / the argmax.

        Under ``val_tuned``, a binary task's own threshold metric; a binary task scored by a
        threshold-free metric (``evaluation.metric``: AUROC, AP) still makes decisions for the
        secondary multi-label F1 scores, so its τ maximises F1."""
        if self.job.thresholds != VAL_TUNED or task.kind != "binary":
            return None
        if task.metric not in METRICS:
            return None
        metric = METRICS.get(task.metric)
        if metric.tunable_threshold:
            return task.metric
        return "f1" if metric.scores == "probabilities" else None

    def _selected_multilabel(self, split: str) -> dict[str, float]:
        """The multi-label scores of the selection: each binary primary task's predictions at its model's selected
        epoch (overlapping groups: its serving copy's)."""
        chosen = self._selected_predictions.get(split, {})
        predicted = self._ml_predictions.get(split, {})
        cols = self._served_columns([j for j, t in enumerate(self.tasks) if t.name in predicted])
        names = [self.tasks[j].name for j in cols]
        if len(names) < 2 or any(n not in chosen for n in names):
            return {}
        return multilabel_scores(np.stack([chosen[n] for n in names], axis=1), self.data[split][1][:, cols].cpu().numpy())

    def served(self) -> dict[str, str]:
        """Task -> the trained copy that serves it: the copy best on validation at its selected epoch
        (:func:`mtlsearch.train.serving.served_copies`; before any epoch, the first copy). Auxiliary tasks included."""
        return served_copies(self.sources, self.best.val, {t.name: t.direction for t in self.tasks})

    def _served_columns(self, columns: list[int]) -> list[int]:
        """Those of ``columns`` (indices into ``self.tasks``) that serve their task (all, when nothing overlaps)."""
        if len(self.sources) == len(set(self.sources.values())):
            return columns
        serving = set(self.served().values())
        return [j for j in columns if self.tasks[j].name in serving]

    def run_epoch(self, epoch: int) -> EpochStats:
        t0 = time.perf_counter()
        loss, samples = self.train_epoch(epoch)
        t1 = time.perf_counter()
        (val, val_extra), (test, test_extra) = self.evaluate_all("val"), self.evaluate_all("test")
        t2 = time.perf_counter()
        self.cost_worker_seconds += (t2 - t0) * self.world_size
        stats = EpochStats(epoch, loss, t1 - t0, t2 - t1, samples * self.world_size, val, test, val_extra, test_extra)
        for task in self.best.update(epoch, val, test):  # keep the selected epoch's decisions (multi-label scores)
            if task in self.epoch_tim:  # and its TIM row
                self._selected_tim[task] = self.epoch_tim[task]
            for split in ("val", "test"):
                if task in self._ml_predictions.get(split, {}):
                    self._selected_predictions.setdefault(split, {})[task] = self._ml_predictions[split][task]
        return stats

    def metrics(self, stats: EpochStats) -> dict[str, float]:
        """The flat record reported to Ray Train/Tune after an epoch.

        Primary metrics: ``val/<task>``, ``test/<task>`` (this epoch), ``best_val/<task>``,
        ``best_test/<task>``, ``best_epoch/<task>`` (the epoch its model selected so far,
        :mod:`mtlsearch.train.selection`), and Δm from the primary metrics only:
        ``dm_val``, ``dm_test`` of the selection (what ASHA and the leaderboard rank;
        never decreasing on val), ``epoch_dm_val``, ``epoch_dm_test`` of this epoch alone
        (curves). Secondary metrics
        of :meth:`evaluate_all` (they select nothing):
        ``val_extra/<key>`` and ``test_extra/<key>`` with ``<key>`` one of
        ``auroc/<task>``, ``sp/<task>``, ``se/<task>``, ``ml_macro_f1``,
        ``ml_micro_f1``, ``ml_subset_acc``, and ``selected_ml_*``: the multi-label scores of the
        selection (each task's decisions at its model's selected epoch). Unless the loss weighting is
        ``equal``: ``weight/<task>``, each task's loss weight at the epoch's end (per trained copy). With cross-task
        attention: ``tim/<t>/<s>``, ``TIM_{t←s}`` at task ``t``'s selected epoch (over the trained copies).

        Overlapping groups (:mod:`mtlsearch.train.serving`): every per-task key above names the task
        and holds its serving copy's numbers (the copy best on validation at its selected epoch), so Δm
        counts each primary task once; ``served_by/<task>`` is the index (in the plan's head groups) of
        the head group whose copy serves it, and ``copy_best_val/<copy>``, ``copy_best_test/<copy>``
        each copy's selected scores, for the tasks trained in several groups.
        """
        served = self.served()
        direction = {t.name: t.direction for t in self.tasks}
        primary = [s for s in served if s in self.job.baselines]
        lower = {s: direction[served[s]] == "min" for s in primary}
        base_val = {s: self.job.baselines[s]["val"] for s in primary}
        base_test = {s: self.job.baselines[s]["test"] for s in primary}

        def of_served(scores: dict[str, float]) -> dict[str, float]:
            return {s: scores[c] for s, c in served.items()}

        out: dict[str, float] = {
            EPOCH: stats.epoch + 1,
            DM_VAL: delta_m(of_served(self.best.val), base_val, lower),
            DM_TEST: delta_m(of_served(self.best.test), base_test, lower),
            EPOCH_DM_VAL: delta_m(of_served(stats.val), base_val, lower),
            EPOCH_DM_TEST: delta_m(of_served(stats.test), base_test, lower),
            TRAIN_LOSS: stats.train_loss,
            "train_seconds": stats.train_seconds,
            "eval_seconds": stats.eval_seconds,
            SAMPLES_PER_S: stats.samples / stats.train_seconds if stats.train_seconds > 0 else math.nan,
            COST: self.cost_worker_seconds,
            "world_size": self.world_size,
            "torch_threads": torch.get_num_threads(),
        }
        for s, c in served.items():
            out[task_key(VAL, s)] = stats.val[c]
            out[task_key(TEST, s)] = stats.test[c]
            out[task_key(BEST_VAL, s)] = self.best.val[c]
            out[task_key(BEST_TEST, s)] = self.best.test[c]
            out[task_key(BEST_EPOCH, s)] = self.best.epoch[c] + 1
        copied = [c for c, s in self.sources.items() if c != s]
        for c in copied:
            out[task_key(COPY_BEST_VAL, c)] = self.best.val[c]
            out[task_key(COPY_BEST_TEST, c)] = self.best.test[c]
        for s, c in served.items():
            if c in copied:
                out[task_key(SERVED_BY, s)] = self.job.plan.head_of(c)
        for t, row in self._selected_tim.items():
            for source, value in row.items():
                out[tim_key(t, source)] = value
        if self.weighting.name != "equal":
            for t, w in zip(self.tasks, self.weighting.weights().tolist()):
                out[task_key(WEIGHT, t.name)] = w
        for split, extra in ((VAL, stats.val_extra), (TEST, stats.test_extra)):
            for key, value in (extra if not copied else served_task_keys(extra, served, self.sources)).items():
                out[extra_key(split, key)] = value
            for key, value in self._selected_multilabel(split).items():
                out[extra_key(split, multilabel_key(key, selected=True))] = value
        return out
