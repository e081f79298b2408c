"""Encoder plugins: one module per encoder type, with its ``Options``, registered in :data:`ENCODERS` by its name.

The spec's ``model.encoder`` (and each of ``model.encoders``) is
``{type: NAME, **options}``, validated against the named plugin's ``Options``
(:func:`mtlsearch.plugins.plugin_field`). A plugin is an :class:`Encoder`
subclass: ``build`` returns the torch module, which takes the table's row
vectors ``(batch, in_dim)`` and returns ``(batch, out_dim)`` with an
``out_dim`` attribute (and optionally ``eval_batch``, the largest batch the
trainer evaluates at once). ``read_inputs`` says which rows it reads: the
table's features, or (``needs_tokens``, the ``text`` encoder) the dataset's
cached token ids (:mod:`mtlsearch.data.tokens`);
``needs_spectrogram``: the rows are ``(frames, mel_bins)`` spectrograms,
flattened, and ``build`` gets that ``input_shape``. ``input_kinds``: the kinds of
input (tabular, text, spectrogram, timeseries) it suits under ``model.inputs``.
``multimodal`` is not written in a spec: it is the fused encoder built from
``model.inputs`` and ``model.fusion`` (:mod:`mtlsearch.models.encoders.multimodal`). The built-in plugins
import torch only in ``build`` (their networks are in
:mod:`mtlsearch.models.networks`), so a spec validates without torch.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import BaseModel

from mtlsearch.plugins import Plugin, Registry, trusted_options

DEFAULT_ENCODER_TYPE = "mlp"


class Encoder(Plugin):
    """Base of an encoder plugin: ``name``, ``Options``, and ``build``."""

    needs_tokens: ClassVar[bool] = False
    needs_spectrogram: ClassVar[bool] = False
    input_kinds: ClassVar[tuple[str, ...]] = ("tabular", "spectrogram", "timeseries")
    """The input kinds (:data:`mtlsearch.data.canonical.INPUT_KINDS`) this encoder can read in ``model.inputs``."""

    def read_inputs(self, options: Any, dataset_path: str, features: dict[str, Any]) -> dict[str, Any]:
        """The input rows per split this encoder reads (``features``: the table's, per split; the default)."""
        return features

    def build(self, options: Any, in_dim: int, input_shape: tuple[int, ...] | None) -> Any:
        """The torch module for these validated options (``input_shape``: ``(frames, mel_bins)`` when
        ``needs_spectrogram``, else the dataset's feature shape or ``None``)."""
        raise NotImplementedError


ENCODERS: Registry = Registry(
    "encoder type",
    {name: f"mtlsearch.models.encoders.{name}" for name in ("mlp", "cnn", "ast", "text", "timeseries", "multimodal")},
)
"""Every encoder type by name: the built-ins (imported when first asked for) and the registered plugins."""


def encoder_plugin(options: BaseModel | dict) -> Encoder:
    """The plugin an encoder's settings name (``type``, default ``mlp``)."""
    kind = options.get("type", DEFAULT_ENCODER_TYPE) if isinstance(options, dict) else options.type
    if kind not in ENCODERS:
        raise ValueError(ENCODERS.unknown(kind))
    return ENCODERS.get(kind)()


def build_encoder(options: BaseModel | dict, in_dim: int, input_shape: tuple[int, ...] | None = None) -> Any:
    """Instantiate an encoder from the spec's encoder settings (``type`` plus its options).

    ``input_shape`` is the shape of one example before flattening (the
    dataset's ``feature_shape``); spectrogram encoders (``cnn``, ``ast``) need
    it to be ``(frames, mel_bins)``, the others may ignore it.
    """
    plugin = encoder_plugin(options)
    validated = trusted_options(plugin, options)
    shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
    if plugin.needs_spectrogram:
        if shape is None or len(shape) != 2:
            raise ValueError(
                f"encoder {plugin.name!r} needs spectrogram inputs (a dataset with a 2-D feature_shape "
                f"[frames, mel_bins], e.g. icbhi with audio); this dataset has flat features of size {in_dim}"
            )
        if math.prod(shape) != in_dim:
            raise ValueError(f"encoder {plugin.name!r}: feature_shape {list(shape)} does not match the input size {in_dim}")
    return plugin.build(validated, in_dim, shape)
