"""Cross-task attention, its TIM, and multimodal inputs, on the synthetic multimodal generator (known answers).

The generator (:mod:`mtlsearch.data.synthetic_multimodal`) plants which
modality each task needs (tabular, signal, both) and how much each task's label
depends on each other task's latent (``D``). Every model here trains in process
(:class:`~mtlsearch.train.trainer.MultiTaskTrainer`, no Ray), selects each of
its models' epochs on validation and is scored on test; every comparison is
paired by seed (each seed draws a new dataset and new initialisations, the
compared models share both) and summarised as issue 8's confirmation does:
the mean of the per-seed differences with its 95% t-interval
(:func:`mtlsearch.metrics.intervals.t_interval`).

1. **TIM against the planted dependencies.** MTL with cross-task attention on
   the ``dense`` generator (every off-diagonal ``D_ts`` distinct, so ranks have
   no ties): Spearman ρ between ``TIM_{t←s}`` (at each task's selected epoch)
   and ``D_ts`` over the off-diagonal entries; the same on the ``sparse``
   generator, with the ceiling a perfect TIM would reach there (``D``'s zeros tie);
   and the ``tim`` grouping method's own check on the same data (the cross-seed
   ``r`` of its two runs, :mod:`mtlsearch.grouping.tim_run`) and whether it warns.
2. **Multimodal against single-modality.** MTL on both inputs (concat fusion)
   against MTL on the tabular input alone and on the signal alone: Δm(test) of
   the multimodal model over the single-modality one, on the tasks that need
   both modalities, and on all tasks.
3. **Attention against plain MTL.** Δm(test) of MTL + cross-task attention
   over plain MTL of the same seed, with planted dependencies (``dense``,
   ``sparse``: on the dependent tasks and on all; ``routed``, where a
   categorical context decides per example which other task's latent counts)
   and without (``none``: all tasks). ``routed`` is in part 1 too (``D`` = the
   routing frequencies).
4. **Attention as a searched choice.** What ``search.space.cross_task_attention:
   {choice: [false, true]}`` gives a user: per seed, the model with the higher
   Δm(val) of attention over plain MTL (the choice made on validation only),
   scored on test against plain MTL; where attention does not pay on
   validation the search keeps plain MTL (Δm 0 for that seed).

    .venv/bin/python benchmarks/cross_task_attention.py --seeds 5
    .venv/bin/python benchmarks/cross_task_attention.py --seeds 5 --dependent-labels 0.1   # scarce dependent labels
    .venv/bin/python benchmarks/cross_task_attention.py --seeds 5 --generators routed none
    .venv/bin/python benchmarks/cross_task_attention.py --seeds 5 --generators routed none \
        --encoders large --fusion linear --samples 6000 --epochs 40 --no-grouping-check
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import spearmanr

from mtlsearch.data.canonical import read_info
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic_multimodal import PLANTED_DEPENDENCIES, TASK_MODALITIES, SyntheticMultimodalOptions
from mtlsearch.grouping.tim_run import compute_tim, warning
from mtlsearch.metrics.delta_m import delta_m
from mtlsearch.metrics.intervals import t_interval
from mtlsearch.models.attention_options import DEFAULT_ATTENTION_DIM, LEARNED, check_gamma
from mtlsearch.models.encoders import ENCODERS
from mtlsearch.models.encoders.multimodal import FusionOptions, multimodal_config
from mtlsearch.models.fusion_options import PROJECTED
from mtlsearch.models.plan import make_plan
from mtlsearch.report.text import fmt, table
from mtlsearch.train.job import TrainJob
from mtlsearch.train.trainer import MultiTaskTrainer

EPOCHS, BATCH, LR = 30, 64, 3e-3
BOTH = ("tabular", "signal")
GENERATORS = ("dense", "sparse", "routed", "none")


ENCODER_SIZES = ("small", "large")
"""``small``: an MLP [32] per input, fused to 32; ``large``: an MLP [64, 32] for the tabular input and a 1-D CNN
(channels [16, 16]) for the signal, fused to 64."""


def encoder(info, inputs: tuple[str, ...], size: str = "small", fusion: str = "concat") -> dict:
    """The fused encoder over ``inputs`` (:data:`ENCODER_SIZES`), fused by ``fusion`` (``concat`` or ``linear``)."""
    mlp = ENCODERS.options("mlp")
    if size == "small":
        chosen, dim = {name: mlp(hidden_dims=[32]) for name in inputs}, 32
    else:
        series = ENCODERS.options("timeseries")
        chosen = {
            name: series(type="timeseries", channels=[16, 16]) if name == "signal" else mlp(hidden_dims=[64, 32])
            for name in inputs
        }
        dim = 64
    return multimodal_config(chosen, FusionOptions(type=fusion, dim=dim), info.inputs, info.task_names)


@dataclass(frozen=True)
class Model:
    """The encoder and attention every model of one benchmark run uses (``--encoders``, ``--fusion``, ``--gamma``,
    ``--attention-dim``)."""

    size: str = "small"
    fusion: str = "concat"
    gamma: float | str = LEARNED
    attention_dim: int = DEFAULT_ATTENTION_DIM

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Model":
        """The model of :func:`add_model_arguments`' flags."""
        return cls(args.encoders, args.fusion, args.gamma, args.attention_dim)


def add_model_arguments(p: argparse.ArgumentParser, encoders_help: str = "the per-input encoders (ENCODER_SIZES)") -> None:
    """``--encoders``, ``--fusion``, ``--gamma`` and ``--attention-dim``: the :class:`Model` of a run (both attention
    benchmarks)."""
    p.add_argument("--encoders", choices=ENCODER_SIZES, default="small", help=encoders_help)
    p.add_argument("--fusion", choices=PROJECTED, default="concat", help="how the inputs are fused")
    p.add_argument("--gamma", type=gamma_argument, default=LEARNED, help="attention γ: a number or 'learned' (the default)")
    p.add_argument("--attention-dim", type=int, default=DEFAULT_ATTENTION_DIM, help="d, the size of each task's embedding")


def job_for(
    path: str, info, inputs: tuple[str, ...], seed: int, attention: bool, epochs: int, model: Model = Model()
) -> TrainJob:
    plan = make_plan("MTL", info.task_names, attention=attention, attention_gamma=model.gamma, attention_dim=model.attention_dim)
    return TrainJob(
        dataset_path=path,
        tasks=[asdict(t) for t in info.tasks],
        plan=plan.to_dict(),
        encoder=encoder(info, inputs, model.size, model.fusion),
        epochs=epochs,
        batch_size=BATCH,
        lr=LR,
        seed=seed,
        torch_threads=1,
    )


def train(path: str, info, inputs: tuple[str, ...], seed: int, attention: bool, epochs: int, model: Model = Model()) -> dict:
    """Per task: test score at its model's selected (validation) epoch, and TIM rows when ``attention``; and the
    training loss of the last epoch."""
    trainer = MultiTaskTrainer(job_for(path, info, inputs, seed, attention, epochs, model))
    for epoch in range(epochs):
        last = trainer.run_epoch(epoch)
    return {
        "test": dict(trainer.best.test),
        "val": dict(trainer.best.val),
        "tim": dict(trainer._selected_tim),
        "train_loss": last.train_loss,
    }


def dataset(
    kind: str, seed: int, root: str, num_tasks: int, dependent_labels: float = 1.0, samples: int = 3000
) -> tuple[str, object]:
    options = SyntheticMultimodalOptions(
        num_tasks=num_tasks, dependencies=kind, num_samples=samples, seed=seed, dependent_labels=dependent_labels
    )
    path = prepare("synthetic_multimodal", options, root)
    return str(path), read_info(path)


def tim_matrix(run: dict, names: list[str]) -> np.ndarray:
    m = np.full((len(names), len(names)), np.nan)
    for i, t in enumerate(names):
        for j, s in enumerate(names):
            if s in run["tim"].get(t, {}):
                m[i, j] = run["tim"][t][s]
    return m


def spearman_off_diagonal(a: np.ndarray, b: np.ndarray) -> float:
    off = ~np.eye(a.shape[0], dtype=bool)
    return float(spearmanr(a[off], b[off]).correlation)


def ceiling(d: np.ndarray, rng: np.random.Generator, draws: int = 200) -> float:
    """Mean Spearman ρ of a perfect TIM (D, ties of D broken at random) with D itself."""
    return float(np.mean([spearman_off_diagonal(d + 1e-9 * rng.random(d.shape), d) for _ in range(draws)]))


def dm(cand: dict, base: dict, tasks: list[str], split: str = "test") -> float:
    return delta_m({t: cand[split][t] for t in tasks}, {t: base[split][t] for t in tasks}, {t: False for t in tasks})


def gamma_argument(text: str) -> float | str:
    """``--gamma``: ``learned`` or a finite number."""
    try:
        return check_gamma(text if text == LEARNED else float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number or {LEARNED!r}, got {text!r}") from None


def chosen_on_validation(attended: dict, plain: dict, tasks: list[str]) -> dict:
    """Part 4: attention where its Δm(val) over plain MTL is above 0, else plain MTL."""
    return attended if dm(attended, plain, tasks, "val") > 0 else plain


def interval_cells(values: list[float]) -> list[str]:
    iv = t_interval(values)
    verdict = "above 0" if iv.above(0) else "below 0" if iv.below(0) else "contains 0"
    return [f"{fmt(iv.mean)} [{fmt(iv.low)}, {fmt(iv.high)}]", verdict]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--tasks", type=int, default=6)
    p.add_argument("--samples", type=int, default=3000, help="examples per dataset, over all splits")
    p.add_argument("--dependent-labels", type=float, default=1.0, help="fraction of training labels kept for the dependent tasks")
    p.add_argument("--generators", nargs="+", choices=GENERATORS, default=list(GENERATORS), help="the dependencies planted")
    add_model_arguments(p)
    p.add_argument(
        "--no-grouping-check", action="store_true", help="skip the tim grouping method's own runs (part 1's last two columns)"
    )
    args = p.parse_args(argv)
    model = Model.from_args(args)
    seeds = list(range(args.seeds))
    root = tempfile.mkdtemp(prefix="mtlsearch-cta-")
    rng = np.random.default_rng(0)

    rho_rows, mm_rows, attn_rows, chosen_rows = [], {}, {}, {}
    for kind in args.generators:
        for seed in seeds:
            path, info = dataset(kind, seed, root, args.tasks, args.dependent_labels, args.samples)
            names = info.task_names
            d = np.asarray(info.extra[PLANTED_DEPENDENCIES])
            plain = train(path, info, BOTH, seed, False, args.epochs, model)
            attended = train(path, info, BOTH, seed, True, args.epochs, model)
            if kind != "none":
                tim = tim_matrix(attended, names)
                r, flagged = float("nan"), None
                if not args.no_grouping_check:
                    grouping = compute_tim(
                        job_for(path, info, BOTH, seed, True, args.epochs, model), args.epochs, model.gamma, model.attention_dim
                    )
                    r, flagged = grouping.reliability["cross_seed"], warning("tim", grouping.reliability) is not None
                rho_rows.append((kind, seed, spearman_off_diagonal(tim, d), ceiling(d, rng), r, flagged))
            dependent = [t for t, row in zip(names, d) if row.sum() > 0]
            attn_rows.setdefault((kind, "all tasks"), []).append(dm(attended, plain, names))
            chosen = chosen_on_validation(attended, plain, names)
            chosen_rows.setdefault(kind, []).append((dm(chosen, plain, names), chosen is attended))
            if dependent:
                attn_rows.setdefault((kind, "dependent tasks"), []).append(dm(attended, plain, dependent))
            if kind == "sparse":
                both = [t for t, m in zip(names, info.extra[TASK_MODALITIES]) if m == "both"]
                for single in BOTH:
                    alone = train(path, info, (single,), seed, False, args.epochs, model)
                    mm_rows.setdefault((single, "tasks needing both"), []).append(dm(plain, alone, both))
                    mm_rows.setdefault((single, "all tasks"), []).append(dm(plain, alone, names))
            print(f"done: {kind} seed {seed}", flush=True)

    print(f"\n1. TIM against the planted dependencies D: Spearman ρ over the off-diagonal entries ({args.tasks} tasks)")
    body = [
        [kind, str(seed), fmt(rho), fmt(top), fmt(r), {True: "yes", False: "no", None: "—"}[flagged]]
        for kind, seed, rho, top, r, flagged in rho_rows
    ]
    print(table(["generator", "seed", "ρ(TIM, D)", "ρ of a perfect TIM", "tim: cross-seed r", "tim: warned"], body))
    for kind in [k for k in args.generators if k != "none"]:
        values = [r[2] for r in rho_rows if r[0] == kind]
        print(f"   {kind}: mean ρ {fmt(float(np.mean(values)))} over {len(values)} seeds, min {fmt(min(values))}")
    if mm_rows:  # measured on the sparse generator
        print(f"\n2. Multimodal MTL (tabular + signal) against single-modality MTL: Δm(test) %, {len(seeds)} seeds, 95% interval")
        print(table(["against", "over", "Δm [95% interval]", "interval"], [[*k, *interval_cells(v)] for k, v in mm_rows.items()]))
    print(f"\n3. MTL + cross-task attention against plain MTL: Δm(test) %, {len(seeds)} seeds, 95% interval")
    print(
        table(["dependencies", "over", "Δm [95% interval]", "interval"], [[*k, *interval_cells(v)] for k, v in attn_rows.items()])
    )
    print(f"\n4. Attention chosen on validation (else plain MTL) against plain MTL: Δm(test) %, all tasks, {len(seeds)} seeds")
    body = [
        [kind, f"{sum(a for _, a in rows)} of {len(rows)}", *interval_cells([v for v, _ in rows])]
        for kind, rows in chosen_rows.items()
    ]
    print(table(["dependencies", "attention chosen", "Δm [95% interval]", "interval"], body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
