"""The encoder networks (torch modules) the built-in encoder plugins build, one class per input kind.

The plugins (:mod:`mtlsearch.models.encoders`, one module each with its
``Options``) validate the settings and construct these.

Every encoder takes the table's row vectors ``(batch, in_dim)`` and returns
``(batch, out_dim)``. ``mlp`` reads them as flat features. ``text`` reads the
dataset's cached token ids instead (:mod:`mtlsearch.data.tokens`; its plugin
sets ``needs_tokens``). ``cnn`` and ``ast``
read them as spectrograms: a dataset whose ``info.extra["feature_shape"]`` is
``[frames, mel_bins]`` (ICBHI: Kaldi 128-bin log-mel filterbanks, 798 frames
for 8 s, flattened row-major) gives ``input_shape``, and they reshape each row
to ``(frames, mel_bins)``.

An encoder may set ``eval_batch``: the largest batch the trainer evaluates at
once (spectrogram encoders keep big activations per example).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class MLPEncoder(nn.Module):
    """Numeric features → ``hidden_dims`` ReLU layers (with optional dropout); output size ``hidden_dims[-1]``."""

    def __init__(self, in_dim: int, hidden_dims: list[int], dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_dim
        for h in hidden_dims:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = h
        self.net = nn.Sequential(*layers)
        self.out_dim = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


_CONV = {1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d), 2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)}


def conv_stack(dims: int, in_channels: int, channels: Sequence[int], kernel_size: int, stem_stride: int) -> nn.Sequential:
    """One conv-BatchNorm-ReLU block per ``channels`` entry over ``dims`` (1 or 2) spatial axes, max pooling by 2
    between blocks (ceil mode: an axis of size 1 stays 1), padding ``kernel_size // 2`` (an odd kernel keeps the
    size), stride ``stem_stride`` in the first convolution."""
    conv, norm, pool = _CONV[dims]
    layers: list[nn.Module] = []
    prev = in_channels
    for i, c in enumerate(channels):
        if i > 0:
            layers.append(pool(2, ceil_mode=True))
        layers += [
            conv(prev, c, kernel_size, stride=stem_stride if i == 0 else 1, padding=kernel_size // 2, bias=False),
            norm(c),
            nn.ReLU(inplace=True),
        ]
        prev = c
    return nn.Sequential(*layers)


class CNNEncoder(nn.Module):
    """A small 2-D CNN over the (frames, mel bins) spectrogram, for CPU-scale runs.

    One block per entry of ``channels``: 3×3 convolution (``kernel_size``) →
    BatchNorm → ReLU, then 2×2 max pooling between blocks; global average
    pooling over time and frequency at the end, then ``dropout``. The first
    convolution has stride ``stem_stride`` (2: the 798 × 128 ICBHI input is
    halved before the wide activations pile up). ``out_dim`` = ``channels[-1]``.
    """

    eval_batch = 256

    def __init__(
        self,
        in_dim: int,
        input_shape: tuple[int, int],
        channels: list[int] = (16, 32, 64),
        kernel_size: int = 3,
        stem_stride: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.net = conv_stack(2, 1, channels, kernel_size, stem_stride)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out_dim = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x.view(x.shape[0], 1, *self.input_shape))
        return self.dropout(h.mean(dim=(2, 3)))


# where transformers keeps a model's stack of layers (BERT/AST: encoder.layer; transformers 5 ASTModel: layers;
# DistilBERT: transformer.layer; BART/T5-style encoders: encoder.layers)
_LAYER_PATHS = ("layers", "encoder.layer", "encoder.layers", "transformer.layer", "transformer.layers")


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers of a transformers model (see ``_LAYER_PATHS``)."""
    for path in _LAYER_PATHS:
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(f"cannot find the transformer layers of {type(model).__name__} (looked for {', '.join(_LAYER_PATHS)})")


def freeze_lower(model: nn.Module, n: int, what: str) -> None:
    """Freeze the embeddings and the lower ``n`` transformer layers of ``model`` (``n`` = 0: nothing)."""
    layers = transformer_layers(model)
    if not 0 <= n <= len(layers):
        raise ValueError(f"encoder {what!r}: freeze_layers must be in [0, {len(layers)}] (the model's layers), got {n}")
    if n > 0:
        model.embeddings.requires_grad_(False)
        for layer in layers[:n]:
            layer.requires_grad_(False)


def _resize_axis(grid: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """Centre-crop (smaller) or linearly interpolate (larger) ``grid`` (1, H, F, T) along ``dim`` to ``size``."""
    old = grid.shape[dim]
    if size == old:
        return grid
    if size < old:  # as the AST reference code does when fine-tuning on shorter inputs
        start = old // 2 - size // 2
        return grid.narrow(dim, start, size)
    target = list(grid.shape[2:])
    target[dim - 2] = size
    return F.interpolate(grid, size=tuple(target), mode="bilinear", align_corners=False)


def _regrid_ast(model: nn.Module, geometry: dict) -> nn.Module:
    """A copy of a (pretrained) ``ASTModel`` for another input geometry (frames, mel bins, strides).

    Every weight is kept except the patch position embeddings, which are
    centre-cropped or interpolated on the (frequency, time) patch grid.
    """
    from transformers import ASTModel

    old_cfg = model.config
    if all(getattr(old_cfg, k) == v for k, v in geometry.items()):
        return model
    cfg = copy.deepcopy(old_cfg)
    for k, v in geometry.items():
        setattr(cfg, k, v)
    f0, t0 = model.embeddings.get_shape(old_cfg)
    f1, t1 = model.embeddings.get_shape(cfg)
    state = model.state_dict()
    key = "embeddings.position_embeddings"
    pos = state[key]
    hidden = pos.shape[-1]
    grid = pos[:, 2:].reshape(1, f0, t0, hidden).permute(0, 3, 1, 2)
    grid = _resize_axis(_resize_axis(grid, 2, f1), 3, t1)
    state[key] = torch.cat([pos[:, :2], grid.permute(0, 2, 3, 1).reshape(1, f1 * t1, hidden)], dim=1).contiguous()
    new = ASTModel(cfg)
    new.load_state_dict(state)
    return new


class ASTEncoder(nn.Module):
    """The Audio Spectrogram Transformer (transformers ``ASTModel``) over Kaldi log-mel filterbanks.

    ``pretrained``: a local directory or Hugging Face id loaded with
    ``ASTModel.from_pretrained`` (e.g. ``MIT/ast-finetuned-audioset-10-10-0.4593``);
    its architecture is kept and only the input geometry changes: ``max_length``
    becomes the dataset's frame count, ``num_mel_bins`` its bin count, and the
    strides may be overridden; the position embeddings are centre-cropped or
    interpolated to the new patch grid, as in the AST reference code. ``None``:
    random initialisation from an ``ASTConfig`` whose unset fields keep
    transformers' defaults (the published AST-base: 768 wide, 12 layers, 12
    heads, 16×16 patches, stride 10); set them small for CPU runs.

    ``pooling``: ``cls`` is AST's pooled output (the mean of the CLS and
    distillation tokens), ``mean`` the mean of the patch tokens.
    ``freeze_layers`` = n > 0 freezes the embeddings and the lower n layers.
    ``dropout`` applies to the pooled output. ``out_dim`` = ``hidden_size``.
    """

    eval_batch = 64

    def __init__(
        self,
        in_dim: int,
        input_shape: tuple[int, int],
        pretrained: str | None = None,
        hidden_size: int | None = None,
        num_hidden_layers: int | None = None,
        num_attention_heads: int | None = None,
        intermediate_size: int | None = None,
        patch_size: int | None = None,
        frequency_stride: int | None = None,
        time_stride: int | None = None,
        pooling: str = "cls",
        freeze_layers: int = 0,
        dropout: float = 0.0,
    ):
        super().__init__()
        from transformers import ASTConfig, ASTModel

        if pooling not in ("cls", "mean"):
            raise ValueError(f"encoder 'ast': pooling must be 'cls' or 'mean', got {pooling!r}")
        frames, mels = (int(s) for s in input_shape)
        self.input_shape = (frames, mels)
        given = dict(
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size,
            patch_size=patch_size,
        )
        arch = {k: v for k, v in given.items() if v is not None}
        geometry = {"max_length": frames, "num_mel_bins": mels}
        geometry.update(
            {k: v for k, v in (("frequency_stride", frequency_stride), ("time_stride", time_stride)) if v is not None}
        )
        if pretrained:
            if arch:
                raise ValueError(
                    f"encoder 'ast': {sorted(arch)} are fixed by the pretrained weights {pretrained!r}; leave them unset"
                )
            model = _regrid_ast(ASTModel.from_pretrained(pretrained), geometry)
        else:
            cfg = ASTConfig(**arch, **geometry)
            if cfg.hidden_size % cfg.num_attention_heads:
                raise ValueError(
                    f"encoder 'ast': hidden_size {cfg.hidden_size} is not a multiple of num_attention_heads {cfg.num_attention_heads}"
                )
            model = ASTModel(cfg)
        cfg = model.config
        if frames < cfg.patch_size or mels < cfg.patch_size:
            raise ValueError(
                f"encoder 'ast': input {frames} frames × {mels} mel bins is smaller than one {cfg.patch_size}×{cfg.patch_size} patch"
            )
        freeze_lower(model, freeze_layers, "ast")
        self.ast = model
        self.pooling = pooling
        self.freeze_layers = freeze_layers
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out_dim = int(cfg.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.ast(input_values=x.view(x.shape[0], *self.input_shape))
        h = out.pooler_output if self.pooling == "cls" else out.last_hidden_state[:, 2:].mean(dim=1)
        return self.dropout(h)


class TextEncoder(nn.Module):
    """Any Hugging Face encoder (``AutoModel``) over the dataset's cached token ids.

    ``model``: a Hugging Face id or local directory; ``None`` is the bundled
    all-MiniLM-L6-v2 (offline). Its weights are fine-tuned (a copy per
    encoder group) except the embeddings and the lower ``freeze_layers`` layers.
    Input rows are ``[length, id_1 … id_L]`` (:mod:`mtlsearch.data.tokens`,
    ``L`` = ``max_length``); each batch is cut to its longest row, the attention
    mask covers the real tokens. ``pooling``: ``cls`` is the first token's last
    hidden state, ``mean`` the mean of the real tokens' (all-MiniLM-L6-v2 was
    trained with mean pooling). ``dropout`` applies to the pooled output;
    ``out_dim`` = the model's hidden size.
    """

    eval_batch = 256

    def __init__(
        self,
        in_dim: int,
        model: str | None = None,
        pooling: str = "mean",
        max_length: int = 128,
        freeze_layers: int = 0,
        dropout: float = 0.0,
    ):
        super().__init__()
        from mtlsearch.pretrained import load_encoder

        if pooling not in ("cls", "mean"):
            raise ValueError(f"encoder 'text': pooling must be 'cls' or 'mean', got {pooling!r}")
        if in_dim != max_length + 1:
            raise ValueError(f"encoder 'text': token rows of width {in_dim} do not match max_length {max_length}")
        _, pretrained = load_encoder(model)
        self.model = copy.deepcopy(pretrained)  # the loaded model is cached and shared; train a copy
        self.model.train()
        freeze_lower(self.model, freeze_layers, "text")
        self.pooling = pooling
        self.max_length = max_length
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out_dim = int(self.model.config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = x[:, 0]
        width = int(lengths.max()) if x.shape[0] else 1
        ids = x[:, 1 : 1 + width]
        mask = torch.arange(width, device=x.device)[None, :] < lengths[:, None]
        hidden = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
        return self.dropout(pooled)


class TimeSeriesEncoder(nn.Module):
    """A small 1-D CNN over ``(steps, channels)`` time series (row-major: the channels of a step are adjacent).

    One block per entry of ``channels``: a ``kernel_size`` Conv1d over time (the input's channels are the
    first block's input channels) → BatchNorm → ReLU, max pooling by 2 between blocks, global average
    pooling over time at the end, then ``dropout``. The first convolution has stride ``stem_stride``.
    ``out_dim`` = ``channels[-1]``.
    """

    eval_batch = 1024

    def __init__(
        self,
        in_dim: int,
        input_shape: tuple[int, int],
        channels: list[int] = (16, 32),
        kernel_size: int = 5,
        stem_stride: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        steps, chans = (int(s) for s in input_shape)
        if steps * chans != in_dim:
            raise ValueError(f"encoder 'timeseries': shape [{steps}, {chans}] does not match rows of size {in_dim}")
        self.input_shape = (steps, chans)
        self.net = conv_stack(1, chans, channels, kernel_size, stem_stride)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out_dim = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.view(x.shape[0], *self.input_shape).transpose(1, 2)  # (batch, channels, steps)
        return self.dropout(self.net(h).mean(dim=2))
