"""The spec's ``train.weighting``: the loss-weighting strategy chosen by ``name``, composed from the registry.

Each strategy's options live beside it (:mod:`mtlsearch.train.weightings`, one
module per strategy); ``WeightingSpec`` validates ``{name: ..., **options}``
against the named strategy's ``Options`` (default ``equal``), so a plugin
strategy registered with ``@WEIGHTINGS.register`` is accepted like a built-in.
"""

from __future__ import annotations

from pydantic import BaseModel

from mtlsearch.plugins import plugin_field
from mtlsearch.train.weightings import WEIGHTINGS

DEFAULT_WEIGHTING = "equal"

WeightingSpec = plugin_field(WEIGHTINGS, "name", DEFAULT_WEIGHTING)
"""The loss-weighting strategy, chosen by ``name`` (default ``equal``), with its options."""


def weighting_defaults(name: str = DEFAULT_WEIGHTING) -> BaseModel:
    """Strategy ``name`` with its default options."""
    return WEIGHTINGS.options(name)()
