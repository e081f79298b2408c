"""Soft parameter sharing (Tri-MTL, arXiv:2505.06271, Eqs. 6-7): plans, layer sets, the penalty and its gradient."""

import itertools

import pytest
import torch

from mtlsearch.data.canonical import TaskInfo
from mtlsearch.models.multitask import MultiTaskModel
from mtlsearch.models.plan import SharingPlan, make_plan
from mtlsearch.models.soft_sharing import (
    add_penalty_grad_,
    canonical_layers,
    encoder_layers,
    pairwise_penalty,
    selected_parameters,
)

MLP1 = {"type": "mlp", "hidden_dims": [2]}


def binary(*names):
    return [TaskInfo(n, "binary", ("neg", "pos")) for n in names]


def set_linear(model, i, weight, bias):
    lin = model.encoders[i].net[0]
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        lin.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return lin


def hand_set_pair(lam=0.1, layers="all"):
    """Two one-layer MLP encoders (2 -> 2) with known weights; their difference has squared norm 14 + 1 = 15."""
    plan = make_plan("MTL", ["a", "b"], sharing="soft", soft_lambda=lam, soft_layers=layers)
    model = MultiTaskModel(plan, binary("a", "b"), MLP1, in_dim=2, seed=0)
    la = set_linear(model, 0, [[1, 2], [3, 4]], [0, 1])
    lb = set_linear(model, 1, [[0, 2], [1, 1]], [1, 1])
    return model, la, lb


def test_penalty_of_two_hand_set_encoders():
    model, la, lb = hand_set_pair(lam=0.1)
    # ‖W_a − W_b‖² = 1 + 0 + 4 + 9 = 14, ‖b_a − b_b‖² = 1 + 0 = 1: λ · 15
    assert model.regularizer().item() == pytest.approx(1.5, abs=1e-6)
    model.regularizer().backward()
    # ∂/∂θ_a = 2λ (θ_a − θ_b), ∂/∂θ_b = −2λ (θ_a − θ_b)
    assert torch.allclose(la.weight.grad, torch.tensor([[0.2, 0.0], [0.4, 0.6]]))
    assert torch.allclose(la.bias.grad, torch.tensor([-0.2, 0.0]))
    assert torch.allclose(lb.weight.grad, -la.weight.grad)
    assert torch.allclose(lb.bias.grad, -la.bias.grad)
    # the heads are not penalised
    assert all(p.grad is None for p in model.heads.parameters())


def test_regularizer_backward_adds_the_same_gradient_without_autograd():
    model, la, lb = hand_set_pair(lam=0.25)
    with torch.no_grad():
        la.weight.grad = torch.ones(2, 2)  # accumulates onto an existing gradient, like .backward()
    value = model.regularizer_backward()
    assert value.item() == pytest.approx(0.25 * 15)
    assert not value.requires_grad
    assert torch.allclose(la.weight.grad, 1 + 0.5 * torch.tensor([[1.0, 0.0], [2.0, 3.0]]))
    assert torch.allclose(lb.bias.grad, 0.5 * torch.tensor([1.0, 0.0]))  # was None: set


def test_penalty_sums_all_pairs_of_several_encoders():
    g = torch.Generator().manual_seed(0)
    weights = [
        [torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)] for _ in range(4)
    ]
    brute = sum(
        ((ws[t][k] - ws[s][k]) ** 2).sum() for (t, s) in itertools.combinations(range(4), 2) for k in range(2) for ws in [weights]
    )
    assert pairwise_penalty(weights, 0.3).item() == pytest.approx(0.3 * brute.item(), rel=1e-12)
    leaves = [[w.clone().requires_grad_(True) for w in ws] for ws in weights]
    pairwise_penalty(leaves, 0.3).backward()
    direct = [[w.clone() for w in ws] for ws in weights]
    assert add_penalty_grad_(direct, 0.3).item() == pytest.approx(0.3 * brute.item(), rel=1e-12)
    for t in range(4):
        expected = 2 * 0.3 * sum(weights[t][0] - weights[s][0] for s in range(4) if s != t)
        assert torch.allclose(leaves[t][0].grad, expected)
        assert torch.allclose(direct[t][0].grad, expected) and torch.allclose(direct[t][1].grad, leaves[t][1].grad)
    same = [[torch.full((3,), 0.1)] for _ in range(3)]
    assert pairwise_penalty(same, 1.0).item() == 0.0  # identical encoders: exactly 0


def test_layer_sets_of_a_two_layer_mlp():
    plan = make_plan("MTL", ["a", "b"], sharing="soft", soft_lambda=1.0, soft_layers="-1")
    model = MultiTaskModel(plan, binary("a", "b"), {"type": "mlp", "hidden_dims": [3, 2]}, in_dim=2, seed=0)
    assert encoder_layers(model.encoders[0]) == [["net.0.weight", "net.0.bias"], ["net.2.weight", "net.2.bias"]]
    assert model.regularizer().item() == 0.0  # soft encoders start from the same weights
    with torch.no_grad():
        model.encoders[1].net[0].weight.add_(1.0)  # layer 0 moves: not in S = {-1}
    assert model.regularizer().item() == 0.0
    with torch.no_grad():
        model.encoders[1].net[2].bias.add_(torch.tensor([1.0, 2.0]))  # last layer moves
    assert model.regularizer().item() == pytest.approx(5.0)
    full = MultiTaskModel(
        make_plan("MTL", ["a", "b"], sharing="soft", soft_lambda=1.0),
        binary("a", "b"),
        {"type": "mlp", "hidden_dims": [3, 2]},
        in_dim=2,
        seed=0,
    )
    full.load_state_dict(model.state_dict())
    assert full.regularizer().item() == pytest.approx(6.0 + 5.0)  # all: 6 weights of layer 0 moved by 1, plus 5


def test_cnn_layers_are_conv_blocks():
    from mtlsearch.models.encoders import build_encoder

    enc = build_encoder({"type": "cnn", "channels": [4, 8], "kernel_size": 3, "stem_stride": 2}, 16 * 8, (16, 8))
    assert encoder_layers(enc) == [["net.0.weight", "net.1.weight", "net.1.bias"], ["net.4.weight", "net.5.weight", "net.5.bias"]]
    assert selected_parameters(enc, "0") == ["net.0.weight", "net.1.weight", "net.1.bias"]
    with pytest.raises(ValueError, match="has 2 layers"):
        selected_parameters(enc, "2")


def test_hard_sharing_has_no_penalty():
    model = MultiTaskModel(make_plan("MTL", ["a", "b"]), binary("a", "b"), MLP1, in_dim=2, seed=0)
    assert model.regularizer().item() == 0.0 and model.regularizer_backward().item() == 0.0
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "arch,groups,encoders,heads",
    [
        ("MTL", None, (("a",), ("b",), ("c",)), (("a",), ("b",), ("c",))),
        ("GMTL", (("a", "b"), ("c",)), (("a", "b"), ("c",)), (("a", "b"), ("c",))),
        ("GMHL", (("a", "b"), ("c",)), (("a", "b"), ("c",)), (("a", "b"), ("c",))),
    ],
)
def test_soft_plans(arch, groups, encoders, heads):
    plan = make_plan(arch, ["a", "b", "c"], groups, sharing="soft", soft_lambda=0.5, soft_layers=[0])
    assert (plan.encoder_groups, plan.head_groups, plan.sharing, plan.soft_lambda, plan.soft_layers) == (
        encoders,
        heads,
        "soft",
        0.5,
        "0",
    )
    assert SharingPlan.from_dict(plan.to_dict()) == plan


def test_stl_stays_hard_and_hard_plans_serialise_as_before():
    assert make_plan("STL", ["a", "b"], sharing="soft").sharing == "hard"
    assert make_plan("MTL", ["a", "b"]).to_dict() == {"encoder_groups": [["a", "b"]], "head_groups": [["a"], ["b"]]}
    assert make_plan("MTL", ["a", "b"], sharing="soft").soft_lambda == 0.1  # the paper's λ


def test_layer_set_syntax():
    assert canonical_layers("all") == "all" and canonical_layers("ALL") == "all"
    assert canonical_layers([0, -1]) == "0,-1" and canonical_layers(2) == "2" and canonical_layers("0, 1") == "0,1"
    for bad in ("first", [0, 0], [], 1.5, True):
        with pytest.raises(ValueError, match="soft_layers"):
            canonical_layers(bad)
    with pytest.raises(ValueError, match="sharing must be"):
        make_plan("MTL", ["a"], sharing="medium")
