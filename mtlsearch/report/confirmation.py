"""The confirmation summary: each confirmed candidate's Δm over seeds, its 95% interval and what it allows one to say.

Confirmation (``search.confirm``, run by :mod:`mtlsearch.search.confirm`)
retrains each confirmed candidate and the STL baselines with the same new seeds.
A confirmation run reports Δm against the baselines of its own seed, so its
Δm(test) at its selection is the paired value ``d_s`` of
:mod:`mtlsearch.metrics.intervals`. Per candidate:

* ``dm_test_mean`` with ``[dm_test_low, dm_test_high]``, the t-interval of the
  ``d_s`` at :data:`~mtlsearch.metrics.intervals.LEVEL`;
* ``verdict``: :data:`BETTER` only when the whole interval lies above 0,
  :data:`WORSE` when it lies below, else :data:`UNDECIDED`; :data:`NO_INTERVAL`
  with fewer than two finished seeds;
* ``rank`` by the mean Δm(val) over the seeds: ranking stays on validation,
  now averaged over the seeds; test is only reported;
* ``next_trial_id`` and ``diff_next_*``: the paired interval of the difference
  in Δm(test) to the candidate ranked next, over the seeds both finished; the
  two can be told apart when it excludes 0.

Only finished confirmation runs count (a running or failed one is left out, and
the candidate's interval is over fewer seeds).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable

from mtlsearch.metrics.intervals import LEVEL, Interval, paired_difference, t_interval
from mtlsearch.metrics.result_keys import DM_TEST, DM_VAL
from mtlsearch.report.text import fmt, table
from mtlsearch.store.results import CONFIRMS, FINISHED, SEED

BETTER = "better than STL"
WORSE = "worse than STL"
UNDECIDED = "not distinguishable from STL"
NO_INTERVAL = "no interval (fewer than 2 seeds finished)"
VERDICTS = (BETTER, WORSE, UNDECIDED, NO_INTERVAL)


def _verdict(iv: Interval) -> str:
    if math.isnan(iv.low) or math.isnan(iv.high):
        return NO_INTERVAL
    return BETTER if iv.above(0) else WORSE if iv.below(0) else UNDECIDED


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else None


def summarize(search_rows: list[dict], confirm_rows: list[dict], label: Callable[[dict], str]) -> list[dict]:
    """The confirmation rows (the columns of :data:`mtlsearch.store.results.CONFIRMATION_SCHEMA`), best first.

    ``search_rows``: the leaderboard rows of the search trials; ``confirm_rows``:
    those of the confirmation runs (their config names the trial they confirm and
    their seed); ``label``: a candidate's display name.
    """
    runs: dict[str, dict[int, dict]] = defaultdict(dict)
    for r in confirm_rows:
        if r["status"] == FINISHED:
            runs[r["config"][CONFIRMS]][int(r["config"][SEED])] = r
    out = []
    for cand in search_rows:
        by_seed = runs.get(cand["trial_id"])
        if not by_seed:
            continue
        seeds = sorted(by_seed)
        test = [by_seed[s][DM_TEST] for s in seeds]
        val = [by_seed[s][DM_VAL] for s in seeds]
        iv = t_interval(test)
        out.append(
            {
                "trial_id": cand["trial_id"],
                "candidate": label(cand),
                "architecture": cand["architecture"],
                "seeds": seeds,
                "runs": [by_seed[s]["trial_id"] for s in seeds],
                "dm_val_seeds": val,
                "dm_test_seeds": test,
                "dm_val_mean": t_interval(val).mean,
                "dm_test_mean": iv.mean,
                "dm_test_low": iv.low,
                "dm_test_high": iv.high,
                "level": LEVEL,
                "verdict": _verdict(iv),
                "test_macro_f1_mean": _mean([by_seed[s].get("test_macro_f1") for s in seeds]),
                "test_micro_f1_mean": _mean([by_seed[s].get("test_micro_f1") for s in seeds]),
            }
        )
    out.sort(key=lambda r: -math.inf if math.isnan(r["dm_val_mean"]) else r["dm_val_mean"], reverse=True)
    for i, row in enumerate(out):
        row["rank"] = i + 1
        nxt = out[i + 1] if i + 1 < len(out) else None
        row.update(next_trial_id=None, diff_next_mean=None, diff_next_low=None, diff_next_high=None)
        if nxt is not None:
            common = sorted(set(row["seeds"]) & set(nxt["seeds"]))
            a = [row["dm_test_seeds"][row["seeds"].index(s)] for s in common]
            b = [nxt["dm_test_seeds"][nxt["seeds"].index(s)] for s in common]
            diff = paired_difference(a, b)
            row.update(next_trial_id=nxt["trial_id"], diff_next_mean=diff.mean, diff_next_low=diff.low, diff_next_high=diff.high)
    return out


def told_apart(row: dict) -> bool | None:
    """Whether a confirmed candidate and the one ranked next differ in Δm(test) at 95% (None: no next, no interval)."""
    low, high = row.get("diff_next_low"), row.get("diff_next_high")
    if row.get("next_trial_id") is None or low is None or math.isnan(low):
        return None
    return low > 0 or high < 0


def format_confirmation(rows: list[dict], seeds: list[int] | None = None) -> str:
    """The confirmation table, and whether #1 and #2 can be told apart."""
    if not rows:
        return "confirmation: no confirmation run has finished"
    n = max(len(r["seeds"]) for r in rows)
    level = f"{100 * rows[0]['level']:.0f}%"
    which = f"seeds {', '.join(map(str, seeds))}" if seeds else f"{n} seed(s)"
    head = (
        f"confirmation: {len(rows)} candidate(s) and the STL baselines retrained with {which}; "
        f"Δm paired per seed, {level} t-interval over seeds"
    )
    header = ["rank", "trial", "candidate", "Δm val (mean)", "Δm test (mean)", f"{level} interval", "seeds", "verdict"]
    header += ["F1-macro test", "F1-micro test"] if any(r.get("test_macro_f1_mean") is not None for r in rows) else []
    body = []
    for r in rows:
        cells = [
            str(r["rank"]),
            r["trial_id"],
            r["candidate"],
            fmt(r["dm_val_mean"]),
            fmt(r["dm_test_mean"]),
            f"[{fmt(r['dm_test_low'])}, {fmt(r['dm_test_high'])}]",
            str(len(r["seeds"])),
            r["verdict"],
        ]
        if len(header) > 8:
            cells += [fmt(r.get("test_macro_f1_mean"), ".4f"), fmt(r.get("test_micro_f1_mean"), ".4f")]
        body.append(cells)
    out = [head, table(header, body)]
    if len(rows) >= 2:
        first = rows[0]
        apart = told_apart(first)
        diff = f"Δm(test) #1 − #2 {fmt(first['diff_next_mean'])} [{fmt(first['diff_next_low'])}, {fmt(first['diff_next_high'])}]"
        if apart is None:
            out.append(f"#1 vs #2: {diff}: no interval (fewer than 2 shared seeds)")
        else:
            out.append(
                f"#1 vs #2: {diff}: {'told apart' if apart else 'cannot be told apart'} at {level} "
                f"with {len(first['seeds'])} seeds"
            )
    return "\n".join(out)
