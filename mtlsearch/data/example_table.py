"""A small clinic-style CSV for trying ``loader: table`` (``search_spaces/table_example.yaml``): nobody's real data.

    python -m mtlsearch.data.example_table clinic.csv

The rows come from the planted-group generator (:mod:`mtlsearch.data.synthetic`,
the quickstart's settings: 8 tasks in 2 planted groups, 1,200 visits, few labels
per task), reshaped the way a hospital export looks: one row per visit with
``visit_id`` and ``patient_id`` (two visits per patient), ``site`` (a string),
24 numeric ``lab_*`` columns, and the diagnoses as ``dx_*`` columns holding
``yes``/``no`` (the multiclass one, ``dx_stage``, holds ``I``/``II``/``III``),
with about 2% of the answers blank (not recorded). The task names do not say
which diagnoses belong together; the planted groups are printed on stderr.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from mtlsearch.data.synthetic import SyntheticLoader, SyntheticOptions

DIAGNOSES = ("dx_anemia", "dx_sepsis", "dx_renal", "dx_hepatic", "dx_cardiac", "dx_thyroid", "dx_diabetes", "dx_stage")
STAGES = ("I", "II", "III")
SITES = ("north", "south", "east")


def write_example_table(path: str | Path, seed: int = 0, num_visits: int = 1200) -> tuple[tuple[str, ...], ...]:
    """Write the CSV to ``path``; return the planted groups (in diagnosis names)."""
    options = SyntheticOptions(
        num_tasks=8, num_groups=2, num_samples=num_visits, noise=0.3, multiclass_tasks=1, shuffle_groups=True, seed=seed
    )
    loader = SyntheticLoader()
    info, table = loader.build(options, "example")
    x = np.stack(table.column("x").to_numpy(zero_copy_only=False))
    rename = dict(zip(info.task_names, DIAGNOSES))
    rng = np.random.default_rng([seed, 7])
    header = ["visit_id", "patient_id", "site", *[f"lab_{j:02d}" for j in range(x.shape[1])], *DIAGNOSES]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i in range(num_visits):
            answers = []
            for task in info.tasks:
                value = int(table.column(task.name)[i].as_py())
                if rng.random() < 0.02:
                    answers.append("")
                elif task.kind == "multiclass":
                    answers.append(STAGES[value])
                else:
                    answers.append("yes" if value else "no")
            labs = [f"{v:.4f}" for v in x[i]]
            writer.writerow([f"v{i:05d}", f"p{i // 2:05d}", SITES[i % 3], *labs, *answers])
    return tuple(tuple(rename[t] for t in group) for group in info.planted_groups)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mtlsearch.data.example_table OUT.csv", file=sys.stderr)
        return 2
    groups = write_example_table(args[0])
    print(f"wrote {args[0]}; planted groups: " + " | ".join(" ".join(g) for g in groups), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
