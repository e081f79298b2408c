"""Single-task (STL) baselines: trained once, stored under a fingerprint, reused by every later search.

All missing baselines are trained in *one* run of the STL sharing plan (one
encoder and one head per task, no shared parameters, so each task's model sees
only its own loss: the same as T separate runs) and each task keeps its own best
epoch on validation. One run pays the start-up once instead of T times. It runs
on the cluster on the spec's path (:func:`mtlsearch.train.executor.fit`): a Ray
task holding one worker for ``train.workers: 1``, a Ray Train worker group for more.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import time
from dataclasses import asdict

from mtlsearch.data.canonical import DatasetInfo
from mtlsearch.data.distribute import store_table_uri
from mtlsearch.metrics.result_keys import BEST_EPOCH, BEST_TEST, BEST_VAL, COST, task_key
from mtlsearch.metrics.thresholds import VAL_TUNED
from mtlsearch.models.plan import make_plan
from mtlsearch.spec import IN_TRIAL, Spec
from mtlsearch.store.results import ResultsStore
from mtlsearch.train.job import TrainJob

log = logging.getLogger(__name__)

_label: contextvars.ContextVar[str] = contextvars.ContextVar("mtlsearch_baselines_label", default="")
"""What :func:`ensure_baselines`' caller put before each of its log lines (the confirmation: ``seed N: ``)."""


def _info(message: str) -> None:
    log.info(f"{_label.get()}{message}")


def baseline_config(spec: Spec, info: DatasetInfo | None = None) -> dict:
    """What a baseline's result depends on besides the dataset and the task: model, budget, seed, and the
    evaluation protocol (a baseline scored with fixed thresholds, or by another metric, is never reused as if it
    were scored the new way). With ``model.inputs`` the encoder is the fused multimodal one over ``info``'s
    inputs (an STL baseline reads the same inputs as the trials)."""
    t = spec.train
    if spec.model.inputs is not None and info is None:
        raise ValueError("baseline_config: a multimodal spec (model.inputs) needs the dataset's info")
    encoder = (
        spec.model.multimodal(info.inputs, [x.name for x in info.primary_tasks()])
        if spec.model.inputs is not None
        else spec.model.encoder.model_dump()
    )
    return {
        "thresholds": spec.evaluation.thresholds,
        "metric": spec.evaluation.metric,
        "encoder": encoder,
        "epochs": t.epochs,
        "batch_size": t.batch_size,
        "lr": t.lr,
        "weight_decay": t.weight_decay,
        "optimizer": t.optimizer,
        "seed": spec.seed,
    }


def baseline_fingerprint(dataset_fingerprint: str, task: str, config: dict) -> str:
    payload = json.dumps({"dataset": dataset_fingerprint, "task": task, "config": config}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


POLL_S = 2.0
"""How often a search waiting for a baseline another search claimed looks for it."""


def ensure_baselines(
    spec: Spec,
    info: DatasetInfo,
    dataset_path: str,
    store: ResultsStore,
    experiment: str,
    use_gpu: bool = False,
    label: str = "",
) -> dict[str, dict]:
    """Return ``{task: {"val", "test", "fingerprint"}}`` for every primary task, training only the missing ones.

    A missing baseline is claimed before it is trained (:mod:`mtlsearch.store.claims`):
    when several searches share a store, the one that claims it trains it and the
    others wait for its row instead of training it again. ``label`` starts each of its log lines.
    """
    token = _label.set(label)
    try:
        return _ensure(spec, info, dataset_path, store, experiment, use_gpu)
    finally:
        _label.reset(token)


def _ensure(
    spec: Spec, info: DatasetInfo, dataset_path: str, store: ResultsStore, experiment: str, use_gpu: bool
) -> dict[str, dict]:
    from mtlsearch.store.claims import Claims

    config = baseline_config(spec, info)
    primary = info.primary_tasks()
    fps = {t.name: baseline_fingerprint(info.fingerprint, t.name, config) for t in primary}
    by_fp = {fps[t.name]: t for t in primary}
    stored = store.read_baselines(list(fps.values()))
    pending = [fp for fp in by_fp if fp not in stored]
    if not pending:
        _info(f"baselines: reusing {len(primary)} stored STL baselines (no STL training needed)")
    claims = Claims(store.root, "baselines", owner=experiment)
    stale: dict[str, object] = {}
    while pending:
        mine, theirs = [], {}
        for fp in pending:
            claim = claims.take_over(fp, stale[fp]) if fp in stale else claims.acquire(fp)
            if claim is not None:
                mine.append(claim)
            else:
                theirs[fp] = claims.inspect(fp)
        stale = {}
        # whoever held a claim may have written its baseline just before we took the claim
        found = store.read_baselines([c.name for c in mine])
        for c in [c for c in mine if c.name in found]:
            c.release()
        stored.update(found)
        mine = [c for c in mine if c.name not in found]
        if mine:
            reused = len(primary) - len(mine) - len(theirs)
            _info(
                f"baselines: training STL baselines for {len(mine)} task(s) in one run ({_path_label(spec)})"
                + (f"; reusing {reused} stored" if reused else "")
            )
            try:
                stored.update(
                    _train(
                        spec,
                        info,
                        dataset_path,
                        store,
                        experiment,
                        config,
                        mine,
                        [by_fp[c.name] for c in mine],
                        fps,
                        use_gpu,
                    )
                )
            finally:
                for c in mine:
                    c.release()
        if theirs:
            got, free, stale = _wait_for_claimed(store, claims, theirs, {fp: by_fp[fp].name for fp in theirs})
            stored.update(got)
            pending = free + list(stale)
        else:
            pending = []
    out = {
        t.name: {"val": stored[fps[t.name]]["val"], "test": stored[fps[t.name]]["test"], "fingerprint": fps[t.name]}
        for t in primary
    }
    for warning in undefined_baselines(out, {t.name: t.metric for t in primary}, spec.evaluation.thresholds):
        log.warning(f"{_label.get()}{warning}")
    return out


def undefined_baselines(baselines: dict[str, dict], metrics: dict[str, str], thresholds: str = VAL_TUNED) -> list[str]:
    """One line per baseline score Δm cannot divide by (0 or NaN): task, split, why, and what to do about it
    (``thresholds``: the protocol the baselines were scored with; under ``fixed``, val-tuned thresholds may help)."""
    from mtlsearch.metrics.delta_m import unanchored_reason

    out = []
    for task, b in baselines.items():
        reason = unanchored_reason(b)
        if reason is not None:
            tune = "use evaluation.thresholds: val_tuned, " if thresholds != VAL_TUNED else ""
            out.append(
                f"task {task!r} ({metrics[task]}) is left out of Δm: {reason}, so the relative change over it is "
                f"undefined; Δm is over the other primary tasks. To keep it in, give the task more labelled "
                f"examples or training epochs, {tune}score it by a threshold-free metric "
                f"(evaluation.metric: auroc or average_precision), or leave it out of the primary tasks"
            )
    return out


def _path_label(spec: Spec) -> str:
    if spec.train.resolved_executor == IN_TRIAL:
        return "one worker, a Ray task"
    return f"Ray Train, {spec.train.workers} workers"


def _wait_for_claimed(store: ResultsStore, claims, theirs: dict, names: dict[str, str]):
    """Wait until the baselines other searches claimed are stored.

    Returns ``(rows, free, stale)``: the stored rows by fingerprint, the fingerprints
    whose claim was released without a baseline (to claim again), and those whose
    claim went stale (to take over), with the stale claim.
    """
    from mtlsearch.store import claims as claims_mod

    owners = sorted({str((i.owner if i else {}).get("owner") or "another search") for i in theirs.values()})
    _info(
        f"baselines: {len(theirs)} task(s) ({', '.join(sorted(names.values()))}) are being trained by {', '.join(owners)}; waiting for them"
    )
    seen = {fp: (info, time.monotonic()) for fp, info in theirs.items()}
    got: dict[str, dict] = {}
    free: list[str] = []
    stale: dict[str, object] = {}
    waiting = dict(theirs)
    started = time.monotonic()
    while waiting:
        rows = store.read_baselines(list(waiting))
        for fp, row in rows.items():
            got[fp] = row
            del waiting[fp]
        for fp in list(waiting):
            info = claims.inspect(fp)
            if info is None:  # released: either its row is there now, or its training failed
                row = store.read_baselines([fp]).get(fp)
                if row is not None:
                    got[fp] = row
                else:
                    free.append(fp)
                    _info(f"baselines: the claim on {names[fp]} was released without a baseline; claiming it")
                del waiting[fp]
                continue
            last, since = seen[fp]
            if last is None or info.version != last.version:
                seen[fp] = (info, time.monotonic())
            elif (gone := claims_mod.holder_died(info)) or time.monotonic() - since >= claims_mod.LEASE_S:
                stale[fp] = info
                why = "its process is gone" if gone else f"it has not been renewed for {claims_mod.LEASE_S:.0f}s"
                _info(f"baselines: the claim of {info.owner.get('owner', '?')} on {names[fp]} is stale ({why}); taking it over")
                del waiting[fp]
        if waiting:
            time.sleep(POLL_S)
    if got:
        _info(
            f"baselines: reusing {len(got)} baseline(s) trained meanwhile by another search ({time.monotonic() - started:.0f}s waited)"
        )
    return got, free, stale


def _train(
    spec: Spec,
    info: DatasetInfo,
    dataset_path: str,
    store: ResultsStore,
    experiment: str,
    config: dict,
    claims: list,
    missing: list,
    fps: dict[str, str],
    use_gpu: bool,
) -> dict[str, dict]:
    """Train the baselines of ``missing`` tasks in one run (renewing their ``claims``), store them; return their rows."""
    from mtlsearch.store.claims import Heartbeat
    from mtlsearch.train.executor import fit

    names = [t.name for t in missing]
    job = TrainJob(
        dataset_path=dataset_path,
        dataset_uri=store_table_uri(store.root, dataset_path),
        tasks=[asdict(t) for t in missing],
        plan=make_plan("STL", names).to_dict(),
        encoder=config["encoder"],
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        weight_decay=config["weight_decay"],
        optimizer=config["optimizer"],
        seed=config["seed"],
        thresholds=config["thresholds"],
        torch_threads=spec.train.threads,
        use_gpu=use_gpu,
        plugins=spec.plugins,
    )
    # named after the baselines and the experiment: a restarted launch resumes its run, and two searches
    # that both train a baseline (a claim taken over from a holder that was only slow) never share a run folder
    run_name = "stl_" + hashlib.sha256((",".join(sorted(fps[n] for n in names)) + "|" + experiment).encode()).hexdigest()[:16]
    with Heartbeat(claims):
        m = fit(job, spec.train, run_name, store.uri("baselines", "runs"))
    out = {}
    for t in missing:
        row = {
            "fingerprint": fps[t.name],
            "dataset": info.fingerprint,
            "task": t.name,
            "metric": t.metric,
            "direction": t.direction,
            "val": float(m[task_key(BEST_VAL, t.name)]),
            "test": float(m[task_key(BEST_TEST, t.name)]),
            "best_epoch": int(m[task_key(BEST_EPOCH, t.name)]),
            "epochs": config["epochs"],
            "cost_worker_s": float(m[COST]) / len(missing),
            "config": json.dumps(config, sort_keys=True),
            "trained_by": experiment,
        }
        store.write_baseline(row)
        out[fps[t.name]] = row
        _info(f"  {t.name}: {t.metric} val {row['val']:.4f} test {row['test']:.4f} (best epoch {row['best_epoch']})")
    return out
