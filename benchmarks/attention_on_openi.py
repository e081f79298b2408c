"""Cross-task attention against plain MTL on real data: Open-I reports (bag of words + exam fields).

The synthetic benchmark (``benchmarks/cross_task_attention.py``) knows its
answers; this one asks the same question on the shared Open-I reports
(``$MTLSEARCH_DATA/openi/indiana_reports.csv``, with the projections CSV next
to it for the ``exam`` input): MTL on the report's bag of words ``x`` and the
exam's projection / description flags ``exam`` (an MLP [32] each, fused to
32; ``--encoders large``: an MLP [64, 32] each, fused to 64), with and
without cross-task attention (M3H's layer as documented in
:mod:`mtlsearch.models.cross_task_attention`, d = 16 or
``--attention-dim``, learned γ or ``--gamma``). Each seed
draws its own split (the loader's ``seed``) and initialisation, shared by the
two models; every model selects each task's epoch on validation and is scored
on test. Reported: Δm(test) of attention over plain MTL per seed with the 95%
t-interval over seeds (issue 8's confirmation), and the same for attention
chosen on validation (part 4 of the synthetic benchmark: attention where its
Δm(val) is above 0, else plain MTL). The mean TIM is printed too: which
findings draw on which, with no planted answer to compare against; and the
two models' training loss at the last epoch, with the cross share
(Σ_{s≠t} TIM_{t←s}, the part of each attention row on the other tasks).

    .venv/bin/python benchmarks/attention_on_openi.py --seeds 5
    .venv/bin/python benchmarks/attention_on_openi.py --seeds 5 --top-k 19 --fusion linear
    .venv/bin/python benchmarks/attention_on_openi.py --seeds 15 --encoders large --fusion linear
    .venv/bin/python benchmarks/attention_on_openi.py --seeds 15 --encoders large --fusion linear --gamma 2
    .venv/bin/python benchmarks/attention_on_openi.py --seeds 15 --encoders large --fusion linear --epochs 90
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from mtlsearch.data.canonical import read_info
from mtlsearch.data.openi import OpenICsvOptions
from mtlsearch.data.registry import prepare
from mtlsearch.report.text import fmt, table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cross_task_attention as synthetic  # noqa: E402  (the same training and summaries)

INPUTS = ("x", "exam")


def reports_csv() -> Path:
    data = os.environ.get("MTLSEARCH_DATA")
    if not data:
        raise SystemExit("set MTLSEARCH_DATA to the shared data folder (it holds openi/indiana_reports.csv)")
    path = Path(data) / "openi" / "indiana_reports.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (MTLSEARCH_DATA must hold openi/indiana_reports.csv)")
    return path


def dataset(seed: int, top_k: int, root: str) -> tuple[str, object]:
    options = OpenICsvOptions(path=str(reports_csv()), top_k=top_k, exam_features=True, seed=seed)
    path = prepare("openi_csv", options, root)
    return str(path), read_info(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=synthetic.EPOCHS)
    p.add_argument("--top-k", type=int, default=10, help="tasks: the most frequent MeSH headings")
    synthetic.add_model_arguments(
        p, encoders_help="small: an MLP [32] per input, fused to 32; large: an MLP [64, 32] per input, fused to 64"
    )
    args = p.parse_args(argv)
    model = synthetic.Model.from_args(args)
    root = tempfile.mkdtemp(prefix="mtlsearch-openi-attention-")
    rows, chosen, tims, names, losses = [], [], [], [], []
    for seed in range(args.seeds):
        path, info = dataset(seed, args.top_k, root)
        names = [t.name for t in info.tasks if t.role == "primary"]
        plain = synthetic.train(path, info, INPUTS, seed, False, args.epochs, model)
        attended = synthetic.train(path, info, INPUTS, seed, True, args.epochs, model)
        picked = synthetic.chosen_on_validation(attended, plain, names)
        rows.append(synthetic.dm(attended, plain, names))
        chosen.append((synthetic.dm(picked, plain, names), picked is attended))
        tims.append(synthetic.tim_matrix(attended, names))
        losses.append((plain["train_loss"], attended["train_loss"]))
        print(f"done: seed {seed}: Δm(test) of attention {fmt(rows[-1])}", flush=True)

    setting = f"{args.encoders} encoders, {args.fusion} fusion, γ {args.gamma}, d {args.attention_dim}"
    print(f"\nOpen-I, {len(names)} findings, inputs {' + '.join(INPUTS)} ({setting}): Δm(test) % over plain MTL")
    body = [
        ["MTL + cross-task attention", f"{len(rows)} of {len(rows)}", *synthetic.interval_cells(rows)],
        [
            "attention chosen on validation",
            f"{sum(a for _, a in chosen)} of {len(chosen)}",
            *synthetic.interval_cells([v for v, _ in chosen]),
        ],
    ]
    print(table(["model", "attention used", "Δm [95% interval]", "interval"], body))
    mean_tim = np.mean(np.stack(tims), axis=0)  # the diagonal stays NaN
    plain_loss, attended_loss = np.mean(losses, axis=0)
    print(
        f"\nTraining loss at epoch {args.epochs} (mean over seeds): plain MTL {plain_loss:.4f}, with attention "
        f"{attended_loss:.4f}. Cross share (mean over tasks of Σ_s≠t TIM_t←s): {np.nanmean(np.nansum(mean_tim, axis=1)):.2f}"
    )
    print(f"\nMean TIM over {len(tims)} seeds (row t draws on column s; the diagonal is the self share, left out)")
    short = [n[:12] for n in names]
    print(
        table(
            ["t ← s", *short],
            [[a, *("—" if i == j else f"{v:.3f}" for j, v in enumerate(r))] for i, (a, r) in enumerate(zip(short, mean_tim))],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
