"""``multimodal``: the fused encoder of ``model.inputs`` + ``model.fusion``; its options, its plugin, and packing.

A spec never writes ``type: multimodal``: with ``model.inputs`` set (input name → encoder settings) the
search builds these options per trial (:func:`multimodal_config`) from the spec and the dataset's inputs
(:class:`~mtlsearch.data.canonical.InputInfo`), so the trainer, DDP and affinity code see one encoder as
always. What it reads (:meth:`Multimodal.read_inputs`): every input of ``model.inputs``, in the order
``model.inputs`` lists them, packed side by side into ONE float32 matrix per split — each input's row
flattened (a numeric input: its table column; a ``text`` input: its cached token ids
``[length, id_1 … id_L]``, small integers, exact in float32 below 2^24). ``layout`` records each
input's slice of that row. What it builds: :class:`~mtlsearch.models.fusion.FusedEncoder`, which
splits the row by ``layout``, runs each input's own encoder and fuses their outputs (``concat`` or
``attention``, :class:`FusionOptions`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mtlsearch.data.canonical import SPLITS, InputInfo, read_input_splits
from mtlsearch.data.tokens import TEXT_COLUMN
from mtlsearch.models.encoders import DEFAULT_ENCODER_TYPE, ENCODERS, Encoder, encoder_plugin
from mtlsearch.models.fusion_options import FUSION_TYPES
from mtlsearch.plugins import PluginOptions, plugin_field, trusted_options

MULTIMODAL = "multimodal"
TOKEN_EXACT = 2**24  # every integer below it is exactly representable in float32
TEXT_INPUT_COLUMN = TEXT_COLUMN  # the one column the token cache tokenizes


class FusionOptions(BaseModel):
    """``model.fusion``: how the per-input encoder outputs become one vector of size ``dim``.

    ``concat`` (default): concatenate the outputs (in ``model.inputs`` order), then a linear projection to
    ``dim`` and a ReLU. ``linear``: the same without the ReLU (linear late fusion). ``attention``: project
    each input's output to ``dim`` (linear), attention-pool over the inputs with one learned query (softmax
    of ``⟨p_m, q⟩ / √dim``), then a ReLU. ``dropout`` on the result.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal[FUSION_TYPES] = "concat"  # type: ignore[valid-type]
    dim: int = Field(64, gt=0, description="size of the fused vector (the heads' input)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the fused vector")


class InputSlice(BaseModel):
    """One input's slice of the packed row: ``start``, ``width``; ``shape`` of one example (``[]`` for tokens)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    shape: list[int]
    start: int
    width: int
    tokens: bool = False


class MultimodalOptions(PluginOptions):
    """The fused encoder's settings, made by :func:`multimodal_config` (not written in a spec: validating them
    is refused, so ``{type: multimodal}`` anywhere in a spec says to use ``model.inputs``; jobs carry them as
    trusted plain data)."""

    @model_validator(mode="before")
    @classmethod
    def _not_in_a_spec(cls, value: Any) -> Any:
        raise ValueError(
            f"'{MULTIMODAL}' is the fused encoder built from model.inputs and model.fusion; "
            "list the inputs under model.inputs instead"
        )

    type: Literal["multimodal"]
    inputs: dict[str, plugin_field(ENCODERS, "type", DEFAULT_ENCODER_TYPE)]  # type: ignore[valid-type]
    fusion: FusionOptions = Field(default_factory=FusionOptions)
    layout: list[InputSlice]


def _options(value: Any, model: type[BaseModel]) -> BaseModel:
    return value if isinstance(value, model) else model.model_validate(value)


def input_problems(inputs: dict[str, Any], dataset_inputs: tuple[InputInfo, ...]) -> list[tuple[str, str]]:
    """``(input name, message)`` for each input of ``model.inputs`` the dataset lacks or its encoder cannot read."""
    known = {i.name: i for i in dataset_inputs}
    out: list[tuple[str, str]] = []
    for name, options in inputs.items():
        if name not in known:
            out.append((name, f"unknown input {name!r}; the dataset's inputs are {list(known)}"))
            continue
        inp, plugin = known[name], encoder_plugin(options)
        if inp.kind not in plugin.input_kinds:
            out.append(
                (
                    name,
                    f"encoder {plugin.name!r} reads {' or '.join(plugin.input_kinds)} inputs; input {name!r} is "
                    f"{inp.kind} of shape {list(inp.shape)}"
                    + (" (cnn and ast need a 2-D spectrogram [frames, mel_bins])" if plugin.needs_spectrogram else ""),
                )
            )
        elif inp.kind == "text" and inp.column != TEXT_INPUT_COLUMN:
            out.append(
                (
                    name,
                    f"text input {name!r} is column {inp.column!r}; token ids are cached for the '{TEXT_INPUT_COLUMN}' column only",
                )
            )
    return out


def attribute_conflicts(
    inputs: dict[str, Any], dataset_inputs: tuple[InputInfo, ...], tasks: list[str]
) -> list[tuple[str, list[str]]]:
    """``(input name, tasks)`` for each input of ``model.inputs`` that gives away some of ``tasks``
    (:attr:`InputInfo.attributes`): an attribute cannot be both an input and a task in one trial."""
    known = {i.name: i for i in dataset_inputs}
    out = []
    for name in inputs:
        clash = [t for t in known[name].attributes if t in tasks] if name in known else []
        if clash:
            out.append((name, clash))
    return out


def layout_of(inputs: dict[str, Any], dataset_inputs: tuple[InputInfo, ...]) -> list[InputSlice]:
    """Each input's slice of the packed row, in ``inputs`` order; ValueError for an input the dataset lacks
    or its encoder cannot read."""
    problems = input_problems(inputs, dataset_inputs)
    if problems:
        raise ValueError("model.inputs: " + "; ".join(f"{n}: {m}" for n, m in problems))
    known = {i.name: i for i in dataset_inputs}
    out, start = [], 0
    for name, options in inputs.items():
        inp = known[name]
        tokens = encoder_plugin(options).needs_tokens
        width = int(_max_length(options)) + 1 if tokens else inp.width
        out.append(InputSlice(name=name, kind=inp.kind, shape=list(inp.shape), start=start, width=width, tokens=tokens))
        start += width
    return out


def _max_length(options: Any) -> int:
    return options["max_length"] if isinstance(options, dict) else options.max_length


def multimodal_config(
    inputs: dict[str, BaseModel],
    fusion: FusionOptions,
    dataset_inputs: tuple[InputInfo, ...],
    tasks: list[str],
    hidden_dim: int | None = None,
    dropout: float | None = None,
) -> dict:
    """The job's encoder settings (plain data) for ``model.inputs``/``model.fusion`` over a dataset's inputs.

    ``hidden_dim`` (searched) sets every width of each ``mlp`` input encoder; ``dropout`` (searched) the
    fusion's dropout. ValueError when an input is unknown or unsuitable, or gives away one of the trial's
    ``tasks``.
    """
    clashes = attribute_conflicts(inputs, dataset_inputs, tasks)
    if clashes:
        raise ValueError(
            "; ".join(f"input {n!r} gives away the tasks {t} the trial trains" for n, t in clashes)
            + ": an attribute cannot be both an input and a task in one trial"
        )
    dumped = {name: options.model_dump() for name, options in inputs.items()}
    if hidden_dim is not None:
        for options in dumped.values():
            if options["type"] == "mlp":
                options["hidden_dims"] = [int(hidden_dim)] * len(options["hidden_dims"])
    fused = fusion.model_dump()
    if dropout is not None:
        fused["dropout"] = float(dropout)
    layout = layout_of(inputs, dataset_inputs)
    return {"type": MULTIMODAL, "inputs": dumped, "fusion": fused, "layout": [s.model_dump() for s in layout]}


def pack_rows(parts: list[np.ndarray]) -> np.ndarray:
    """The inputs of a split side by side as one float32 matrix (each part flattened per row); integer parts
    (token ids) must lie in ``[0, 2^24)``, where float32 holds every integer exactly."""
    cols = []
    for part in parts:
        part = np.asarray(part)
        if np.issubdtype(part.dtype, np.integer) and part.size and (part.min() < 0 or part.max() >= TOKEN_EXACT):
            raise ValueError(f"token ids must lie in [0, {TOKEN_EXACT}) to be exact in float32; got {part.min()}..{part.max()}")
        cols.append(part.reshape(part.shape[0], int(np.prod(part.shape[1:]))).astype(np.float32))  # also 0 rows
    return np.concatenate(cols, axis=1) if cols else np.zeros((0, 0), np.float32)


@ENCODERS.register
class Multimodal(Encoder):
    """``multimodal``: :class:`~mtlsearch.models.fusion.FusedEncoder` over the packed inputs of ``layout``."""

    name = MULTIMODAL
    Options = MultimodalOptions

    def _parts(self, options: MultimodalOptions) -> list[tuple[InputSlice, Any]]:
        layout = [_options(s, InputSlice) for s in options.layout]
        return [(s, options.inputs[s.name]) for s in layout]

    def read_inputs(self, options: MultimodalOptions, dataset_path: str, features: dict[str, Any]) -> dict[str, Any]:
        """Every input's rows (its encoder's :meth:`Encoder.read_inputs`: the table column, or the cached token
        ids of a ``text`` encoder), packed per split by :func:`pack_rows` in ``layout`` order."""
        parts = self._parts(options)
        numeric = read_input_splits(dataset_path, [s.name for s, _ in parts if not s.tokens])
        per_split: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
        for piece, enc in parts:
            plugin = encoder_plugin(enc)
            rows = plugin.read_inputs(trusted_options(plugin, enc), dataset_path, {} if piece.tokens else numeric[piece.name])
            for split in SPLITS:
                if rows[split].shape[1:] and int(np.prod(rows[split].shape[1:])) != piece.width:
                    raise ValueError(
                        f"input {piece.name!r}: {split} rows of width {int(np.prod(rows[split].shape[1:]))}, "
                        f"the layout expects {piece.width}"
                    )
                per_split[split].append(rows[split])
        return {split: pack_rows(parts_) for split, parts_ in per_split.items()}

    def build(self, options: MultimodalOptions, in_dim: int, input_shape: tuple[int, ...] | None):
        from mtlsearch.models.encoders import build_encoder
        from mtlsearch.models.fusion import FusedEncoder

        parts = self._parts(options)
        total = sum(s.width for s, _ in parts)
        if in_dim != total:
            raise ValueError(f"encoder 'multimodal': packed rows of width {in_dim}, the layout's inputs add up to {total}")
        built = [
            (
                s.name,
                build_encoder(enc, s.width, tuple(s.shape) if s.shape and not s.tokens else None),
                s.start,
                s.width,
                s.tokens,
            )
            for s, enc in parts
        ]
        return FusedEncoder(built, **_options(options.fusion, FusionOptions).model_dump())
