"""The search spec: a YAML file, its schema, and error messages that point into it.

A spec names an experiment, a dataset (a registered loader and its options),
the fixed model and training settings, named task groupings, and the search:
which dimensions are open and how Tune explores them. Everything is validated
here, at the boundary; a problem is reported as ``FILE:LINE: field 'a.b.c':
what was expected (got ...)`` and ``mtlsearch`` exits with code 2.

The package, from the bottom up (a module imports only those above it):

- :mod:`~mtlsearch.spec.names`: shared constants (architectures, grouping
  methods, ``planted``/``manual``/``none``, executors), the canonical
  ``metadata`` choice, and ``Strict``, the base of every spec model;
- :mod:`~mtlsearch.spec.weightings`: ``WeightingSpec``, the loss-weighting
  choice composed from :data:`mtlsearch.train.weightings.WEIGHTINGS`;
- :mod:`~mtlsearch.spec.space`: the search-space dimensions, the grouping space
  and ``SearchSpace``;
- :mod:`~mtlsearch.spec.encoders`: ``EncoderSpec``, the encoder choice
  composed from :data:`mtlsearch.models.encoders.ENCODERS`, and ``ModelSpec``;
- :mod:`~mtlsearch.spec.settings`: the other fixed settings: ``TrainSpec``,
  CO-TASK, ``SearchSpec`` and confirmation, dataset, grouping methods,
  evaluation;
- :mod:`~mtlsearch.spec.schema`: the root ``Spec`` and its cross-section checks;
- :mod:`~mtlsearch.spec.yaml_errors`: validation errors rendered with the file
  and line they point to;
- :mod:`~mtlsearch.spec.loaded`: ``load_spec`` and ``LoadedSpec``, the spec
  checked against its dataset's loader.

Every name is importable from ``mtlsearch.spec`` itself.
"""

from __future__ import annotations

from mtlsearch.spec.encoders import DEFAULT_ENCODER, EncoderSpec, ModelSpec, encoder_defaults
from mtlsearch.spec.loaded import LoadedSpec, load_spec
from mtlsearch.spec.names import (
    ARCHITECTURES,
    GROUPED_ARCHITECTURES,
    IN_TRIAL,
    MANUAL,
    NO_METADATA,
    PLANTED,
    RAY_TRAIN,
    Strict,
    canonical_metadata,
    metadata_tasks,
)
from mtlsearch.spec.schema import Spec
from mtlsearch.spec.settings import (
    AshaSpec,
    ConfirmSpec,
    CoTaskSpec,
    DatasetSpec,
    EvaluationSpec,
    GroupingMethodsSpec,
    SearchSpec,
    TrainSpec,
)
from mtlsearch.spec.space import (
    DIMENSION_KINDS,
    Choice,
    Dimension,
    GroupingDimension,
    GroupingSpace,
    IntRange,
    LogUniform,
    SearchSpace,
    Uniform,
    known_choices,
)
from mtlsearch.spec.weightings import DEFAULT_WEIGHTING, WeightingSpec, weighting_defaults

__all__ = [
    "ARCHITECTURES",
    "AshaSpec",
    "Choice",
    "ConfirmSpec",
    "CoTaskSpec",
    "DEFAULT_ENCODER",
    "DEFAULT_WEIGHTING",
    "DIMENSION_KINDS",
    "DatasetSpec",
    "Dimension",
    "EncoderSpec",
    "EvaluationSpec",
    "GROUPED_ARCHITECTURES",
    "GroupingDimension",
    "GroupingMethodsSpec",
    "GroupingSpace",
    "IN_TRIAL",
    "IntRange",
    "LoadedSpec",
    "LogUniform",
    "MANUAL",
    "ModelSpec",
    "NO_METADATA",
    "PLANTED",
    "RAY_TRAIN",
    "SearchSpace",
    "SearchSpec",
    "Spec",
    "Strict",
    "TrainSpec",
    "Uniform",
    "WeightingSpec",
    "encoder_defaults",
    "weighting_defaults",
    "canonical_metadata",
    "known_choices",
    "load_spec",
    "metadata_tasks",
]
