"""The optimizers a spec can name: one table gives the spec's choices and what the trainer builds."""

from __future__ import annotations

import pytest
import torch

from mtlsearch.spec import TrainSpec
from mtlsearch.train.optimizers import OPTIMIZERS, make_optimizer


@pytest.mark.parametrize(
    "name, cls, momentum", [("adam", torch.optim.Adam, None), ("adamw", torch.optim.AdamW, None), ("sgd", torch.optim.SGD, 0.9)]
)
def test_each_named_optimizer_is_built_with_the_lr_weight_decay_and_fixed_options(name, cls, momentum):
    opt = make_optimizer(name, [torch.nn.Parameter(torch.zeros(2))], lr=0.01, weight_decay=0.001)
    group = opt.param_groups[0]
    assert type(opt) is cls and group["lr"] == 0.01 and group["weight_decay"] == 0.001
    assert momentum is None or group["momentum"] == momentum


def test_the_spec_offers_exactly_the_table_and_an_unknown_name_is_a_clear_error():
    assert [TrainSpec(optimizer=n).optimizer for n in OPTIMIZERS] == list(OPTIMIZERS)
    with pytest.raises(ValueError, match=r"unknown optimizer 'lion'; expected one of \['adam', 'adamw', 'sgd'\]"):
        make_optimizer("lion", [torch.nn.Parameter(torch.zeros(2))], lr=0.01, weight_decay=0.0)
