"""TAG lookahead and gradient-cosine affinity: batched == per-task loop, heads fixed, planted groups recovered."""

import copy
import itertools
from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from mtlsearch.data.canonical import TaskInfo, read_info, write_table
from mtlsearch.data.registry import prepare
from mtlsearch.data.synthetic import SyntheticOptions
from mtlsearch.grouping.affinity import (
    DEFAULT_LOOKAHEAD_LR,
    IMPLS,
    compute_affinity,
    gradient_cosine_affinity,
    head_logits,
    lookahead_affinity,
    naive_gradient_cosine,
    naive_lookahead_affinity,
)
from mtlsearch.models.multitask import MultiTaskModel
from mtlsearch.models.plan import make_plan
from mtlsearch.train.job import TrainJob
from mtlsearch.train.losses import TaskLoss
from mtlsearch.train.trainer import MultiTaskTrainer

TASKS = [
    TaskInfo("a", "binary", ("0", "1")),
    TaskInfo("m", "multiclass", ("x", "y", "z"), metric="macro_f1"),
    TaskInfo("b", "binary", ("0", "1")),
    TaskInfo("c", "binary", ("0", "1")),
    TaskInfo("n", "multiclass", ("p", "q", "r", "s"), metric="macro_f1"),
]
IN_DIM, BATCH = 40, 24


def _case(hidden=(16, 8), missing=False, arch="MTL", seed=0, dtype=torch.float64):
    """A small model, a batch and its loss in float64 (so equality checks are far above rounding)."""
    names = [t.name for t in TASKS]
    plan = make_plan(arch, names, (("c", "a"), ("n", "b", "m")) if arch == "GMHL" else None)
    by_name = {t.name: t for t in TASKS}
    tasks = [by_name[n] for n in plan.tasks]
    model = MultiTaskModel(plan, tasks, {"type": "mlp", "hidden_dims": list(hidden)}, IN_DIM, seed).to(dtype)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, IN_DIM, generator=g, dtype=dtype)
    y = torch.stack([torch.randint(0, len(t.classes), (BATCH,), generator=g) for t in tasks], dim=1)
    if missing:
        y[::3, 0] = -1
        y[:7, 1] = -1
        y[:, 3] = -1  # a task with no label in the batch
    loss_fn = TaskLoss(tasks, complete=not missing)
    y_bin, y_multi = loss_fn.targets(y)
    return model, loss_fn, x, (y_bin.to(dtype), y_multi)


# --- batched == per-task loop ---------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("hidden", [(16, 8), (64,), (8, 32, 4)])
def test_batched_lookahead_equals_naive_loop(impl, missing, hidden):
    model, loss_fn, x, targets = _case(hidden, missing)
    ref = naive_lookahead_affinity(model, loss_fn, x, targets, lr=0.5)
    z = lookahead_affinity(model, loss_fn, x, targets, lr=0.5, impl=impl)
    assert z.shape == (len(TASKS), len(TASKS))
    assert torch.equal(torch.isnan(z), torch.isnan(ref))
    assert torch.nan_to_num(ref).abs().max() > 1e-3  # not comparing zeros
    torch.testing.assert_close(z, ref, rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("impl", ["auto", "func", "mlp-gram", "mlp-weight"])
def test_batched_lookahead_equals_naive_loop_grouped_heads(impl):
    model, loss_fn, x, targets = _case((16, 8), arch="GMHL")  # head groups in another order than the loss vector
    ref = naive_lookahead_affinity(model, loss_fn, x, targets, lr=0.5)
    torch.testing.assert_close(lookahead_affinity(model, loss_fn, x, targets, lr=0.5, impl=impl), ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("arch", ["MTL", "GMHL"])
def test_batched_gradient_cosine_equals_naive(missing, arch):
    model, loss_fn, x, targets = _case((16, 8), missing, arch)
    ref = naive_gradient_cosine(model, loss_fn, x, targets)
    cos = gradient_cosine_affinity(model, loss_fn, x, targets)
    torch.testing.assert_close(cos, ref, rtol=1e-9, atol=1e-12, equal_nan=True)
    ok = ~torch.isnan(cos)
    torch.testing.assert_close(cos[ok], cos.T[ok])
    assert (cos.diagonal()[ok.diagonal()] - 1).abs().max() < 1e-9
    assert (cos[ok].abs() < 0.999).any()  # not all ±1


def test_float32_batched_matches_naive_at_default_lr():
    model, loss_fn, x, targets = _case((32, 16), dtype=torch.float32)
    ref = naive_lookahead_affinity(model, loss_fn, x, targets, DEFAULT_LOOKAHEAD_LR)
    z = lookahead_affinity(model, loss_fn, x, targets, DEFAULT_LOOKAHEAD_LR)
    assert (z - ref).abs().max() < 1e-6


def test_missing_target_task_gives_nan_column_and_zero_row():
    model, loss_fn, x, targets = _case((16, 8), missing=True)
    z = lookahead_affinity(model, loss_fn, x, targets, lr=0.5)
    assert torch.isnan(z[:, 3]).all()  # L_c(θ) = 0: Z_{i→c} undefined
    assert z[3, [0, 1, 2, 4]].abs().max() < 1e-12  # ∇L_c = 0: the lookahead on c changes nothing
    assert not torch.isnan(z[:, [0, 1, 2, 4]]).any()


def test_head_logits_is_the_models_head_computation():
    for arch in ("MTL", "GMHL"):
        model, _, x, _ = _case((16, 8), arch=arch)
        out, ref = head_logits(model, model.encoders[0](x)), model(x)
        assert out.keys() == ref.keys() and all(torch.equal(out[k], ref[k]) for k in ref)


# --- the lookahead steps the shared encoder only ------------------------------------------


def _hand_built(model, loss_fn, x, targets, lr, step_heads: bool) -> torch.Tensor:
    """Z by hand: a copy of the model, one in-place SGD step on L_i, the losses after it."""
    model.eval()
    before = loss_fn(model(x), targets).detach()
    rows = []
    for i in range(len(before)):
        m = copy.deepcopy(model)
        m.zero_grad()
        loss_fn(m(x), targets)[i].backward()
        with torch.no_grad():
            for name, p in m.named_parameters():
                if p.grad is not None and (step_heads or name.startswith("encoders.")):
                    p -= lr * p.grad
            rows.append(loss_fn(m(x), targets))
    return 1 - torch.stack(rows) / before


def test_lookahead_steps_only_the_shared_parameters():
    model, loss_fn, x, targets = _case((16, 8))
    model.train()
    state = copy.deepcopy(model.state_dict())
    z = lookahead_affinity(model, loss_fn, x, targets, lr=0.5)
    # the model is left as it was: parameters, no gradient, training mode
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters()) and model.training
    encoder_only = _hand_built(model, loss_fn, x, targets, 0.5, step_heads=False)
    torch.testing.assert_close(z, encoder_only, rtol=1e-9, atol=1e-12)
    with_heads = _hand_built(model, loss_fn, x, targets, 0.5, step_heads=True)
    assert (z - with_heads).abs().max() > 1e-3  # stepping the heads too would be visibly different


def test_lookahead_is_first_order_in_lr_for_small_steps():
    model, loss_fn, x, targets = _case((16, 8))
    z1 = lookahead_affinity(model, loss_fn, x, targets, lr=1e-4)
    z2 = lookahead_affinity(model, loss_fn, x, targets, lr=2e-4)
    torch.testing.assert_close(z2, 2 * z1, rtol=1e-3, atol=1e-12)


# --- the trainer's step hook ------------------------------------------------------------


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("affinity")


def _job(path, hidden=(64, 32), **kw) -> TrainJob:
    info = read_info(path)
    return TrainJob(
        dataset_path=str(path),
        tasks=[asdict(t) for t in info.tasks],
        plan=make_plan("STL", info.task_names).to_dict(),
        encoder={"type": "mlp", "hidden_dims": list(hidden)},
        epochs=1,
        batch_size=128,
        lr=1e-3,
        seed=0,
        torch_threads=1,
        **kw,
    )


def test_step_hook_sees_each_batch_before_its_step(data_root):
    path = prepare("synthetic", SyntheticOptions(num_tasks=4, num_groups=2, num_samples=800), data_root)
    trainer = MultiTaskTrainer(_job(path))
    seen, params = [], []
    trainer.train_epoch(
        0,
        step_hook=lambda step, idx: (seen.append((step, idx.clone())), params.append(copy.deepcopy(trainer.model.state_dict()))),
    )
    shard = trainer._shard(0)
    assert [s for s, _ in seen] == list(range(len(seen)))
    assert torch.equal(torch.cat([i for _, i in seen]), shard)
    first = MultiTaskTrainer(_job(path)).model.state_dict()
    assert all(torch.equal(params[0][k], first[k]) for k in first)  # step 0's hook: before any optimizer step
    assert not all(torch.equal(params[1][k], first[k]) for k in first)


# --- one training run on planted groups --------------------------------------------------


def best_partition(z: np.ndarray, k: int) -> np.ndarray:
    """Exact search over all partitions of the tasks into k non-empty groups, maximising TAG's score
    mean_j mean_{i ∈ G(j), i ≠ j} Z_{i→j} (a task alone in its group scores 0)."""
    t = len(z)
    labels = np.array([(0, *rest) for rest in itertools.product(range(k), repeat=t - 1)], dtype=np.int8)
    first = np.stack([np.where((labels == g).any(1), np.argmax(labels == g, axis=1), t) for g in range(k)], axis=1)
    labels = labels[(first < t).all(1) & (np.diff(first, axis=1) > 0).all(1)]  # each partition once
    off = z - np.diag(np.diag(z))
    best, best_score = None, -np.inf
    for chunk in np.array_split(labels, max(1, len(labels) // 20000)):
        same = (chunk[:, :, None] == chunk[:, None, :]).astype(np.float64)
        same[:, np.arange(t), np.arange(t)] = 0
        count = same.sum(1)
        score = (np.einsum("nij,ij->nj", same, off) / np.maximum(count, 1)).mean(1)
        j = int(np.argmax(score))
        if score[j] > best_score:
            best, best_score = chunk[j], score[j]
    return best


def test_best_partition_finds_a_planted_block_matrix():
    planted = np.repeat([0, 1, 2], [4, 4, 4])
    rng = np.random.default_rng(0)
    z = np.where(planted[:, None] == planted[None, :], 1.0, -0.2) + 0.3 * rng.standard_normal((12, 12))
    assert adjusted_rand_score(planted, best_partition(z, 3)) == 1.0


# the estimator on its own, for a fixed length (mtlsearch/grouping/affinity.py): ≳150 training steps, every 10 steps, η = 0.1
PLANTED_RUN = {"every_steps": 10, "epochs": 10}


@pytest.mark.parametrize("kind", ["lookahead", "gradient_cosine"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compute_affinity_recovers_planted_groups(data_root, kind, seed):
    path = prepare(
        "synthetic", SyntheticOptions(num_tasks=12, num_groups=3, num_samples=3000, multiclass_tasks=0, seed=seed), data_root
    )
    info = read_info(path)
    result = compute_affinity(_job(path), kind=kind, **PLANTED_RUN)
    assert result.reliability["epochs_run"] == 10 and result.reliability["epochs_cap"] == 10
    assert result.kind == kind and result.task_names == info.task_names
    assert result.matrix.shape == (12, 12) and np.isfinite(result.matrix).all()
    assert result.steps_measured == 17 and result.seconds > 0  # 2100 training samples / 128 = 17 steps × 10 epochs
    planted = np.array([g for g, group in enumerate(info.planted_groups) for _ in group])
    same = planted[:, None] == planted[None, :]
    off = ~np.eye(12, dtype=bool)
    within, across = result.matrix[same & off].mean(), result.matrix[~same].mean()
    assert within > across
    assert adjusted_rand_score(planted, best_partition(result.matrix, 3)) >= 0.9


def test_compute_affinity_with_missing_labels_and_multiclass(data_root, tmp_path):
    path = prepare(
        "synthetic", SyntheticOptions(num_tasks=5, num_groups=2, num_samples=900, multiclass_tasks=2, seed=3), data_root
    )
    table = pq.read_table(str(path))
    rng = np.random.default_rng(0)
    for name, keep in (("task_00", 0.7), ("task_03", 0.7), ("task_01", 0.01)):  # task_01: most batches have no label
        y = table.column(name).to_numpy().copy()
        y[rng.random(len(y)) > keep] = -1
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(y))
    holey = tmp_path / "holey.parquet"
    write_table(table, holey)
    job = _job(holey, hidden=(16,))
    assert not MultiTaskTrainer(job).loss_fn.complete
    for kind in ("lookahead", "gradient_cosine"):
        r = compute_affinity(job, kind=kind, every_steps=2, epochs=2)
        assert r.matrix.shape == (5, 5) and np.isfinite(r.matrix).all()
        assert r.steps_measured == 5  # 630 training samples: 5 steps per epoch, measured at global steps 0, 2, 4, 6, 8
    np.testing.assert_array_equal(r.matrix, r.matrix.T)  # symmetric by construction (see affinity._cosine)
    np.testing.assert_allclose(np.diag(r.matrix), 1.0, atol=1e-6)  # float32 gradients: sqrt(g·g)² = g·g to a few ulp


def test_compute_affinity_rejects_unknown_kind(data_root):
    path = prepare("synthetic", SyntheticOptions(num_tasks=4, num_groups=2, num_samples=800), data_root)
    with pytest.raises(ValueError, match="kind"):
        compute_affinity(_job(path), kind="cosine")
