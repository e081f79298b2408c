"""A third-party plugin module, as a user would write one: a loader, an encoder and a loss weighting.

Nothing here is part of the package; ``tests/test_plugins.py`` lists this file
under a spec's ``plugins:`` and runs ``validate`` and a search with it. Each
plugin is a class with its ``Options`` beside it, registered under its name.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from mtlsearch.data.canonical import DatasetInfo, TaskInfo, build_table
from mtlsearch.data.loader import Loader, LoaderOptions, register
from mtlsearch.models.encoders import ENCODERS, Encoder
from mtlsearch.plugins import PluginOptions
from mtlsearch.train.weightings import WEIGHTINGS
from mtlsearch.train.weightings.base import Weighting


class ThresholdTableOptions(LoaderOptions):
    num_samples: int = Field(400, ge=50)
    num_features: int = Field(6, ge=3)
    seed: int = 0


@register
class ThresholdTable(Loader):
    """``lab_table``: each task is whether one feature, plus noise, is above 0."""

    name = "lab_table"
    Options = ThresholdTableOptions

    def tasks(self, options: ThresholdTableOptions) -> list[TaskInfo]:
        return [TaskInfo(f"finding_{c}", "binary", ("no", "yes"), metric="f1") for c in "abc"]

    def build(self, options: ThresholdTableOptions, fingerprint: str) -> tuple[DatasetInfo, object]:
        rng = np.random.default_rng(options.seed)
        x = rng.standard_normal((options.num_samples, options.num_features)).astype(np.float32)
        tasks = self.tasks(options)
        labels = {t.name: (x[:, i] + 0.3 * rng.standard_normal(len(x)) > 0).astype(np.int64) for i, t in enumerate(tasks)}
        split = np.array(["train", "val", "test"])[rng.choice(3, size=len(x), p=[0.6, 0.2, 0.2])]
        info = DatasetInfo(
            name="lab-table", tasks=tuple(tasks), input_column="x", input_dim=x.shape[1], fingerprint=fingerprint, extra={}
        )
        return info, build_table(info, [f"r{i}" for i in range(len(x))], split.tolist(), x, labels)


class GatedOptions(PluginOptions):
    type: Literal["gated"] = "gated"
    width: int = Field(16, gt=0)


class GatedNet(nn.Module):
    def __init__(self, in_dim: int, width: int):
        super().__init__()
        self.value, self.gate = nn.Linear(in_dim, width), nn.Linear(in_dim, width)
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.value(x)) * torch.sigmoid(self.gate(x))


@ENCODERS.register
class Gated(Encoder):
    """``gated``: a gated linear unit over the features."""

    name = "gated"
    Options = GatedOptions

    def build(self, options: GatedOptions, in_dim: int, input_shape):
        return GatedNet(in_dim, options.width)


class FirstTaskFirstOptions(PluginOptions):
    name: Literal["first_task_first"] = "first_task_first"
    factor: float = Field(2.0, gt=0)


@WEIGHTINGS.register
class FirstTaskFirst(Weighting):
    """``first_task_first``: the first task's loss weighted ``factor``, the others 1."""

    name = "first_task_first"
    Options = FirstTaskFirstOptions

    def weights(self) -> torch.Tensor:
        w = torch.ones(len(self.tasks))
        w[0] = self.options.factor
        return w
