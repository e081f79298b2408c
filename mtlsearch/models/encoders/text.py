"""``text``: a Hugging Face encoder fine-tuned on a text dataset; its options and its plugin."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mtlsearch.models.encoders import ENCODERS, Encoder
from mtlsearch.plugins import PluginOptions


class TextOptions(PluginOptions):
    """``text``: a Hugging Face encoder (``AutoModel``) fine-tuned on a text dataset's reports/abstracts.

    ``model``: a Hugging Face id (e.g. ``dmis-lab/biobert-v1.1``) or a local
    directory; ``null`` is the bundled all-MiniLM-L6-v2, which works offline.
    Texts are tokenized once per dataset, model and ``max_length`` and cached as
    Arrow next to the dataset's table. Needs a loader that keeps raw text
    (``ohsumed_folders``, ``openi_csv``, ``openi_xml``).
    """

    type: Literal["text"]
    model: str | None = Field(None, description="Hugging Face id or local path; null: the bundled all-MiniLM-L6-v2")
    pooling: Literal["cls", "mean"] = Field("mean", description="cls: the first token's state; mean: over the real tokens")
    max_length: int = Field(128, ge=4, le=4096, description="tokens per text (longer texts are truncated)")
    freeze_layers: int = Field(0, ge=0, description="n > 0 freezes the embeddings and the lower n transformer layers")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="on the pooled output")


@ENCODERS.register
class Text(Encoder):
    """``text``: :class:`~mtlsearch.models.networks.TextEncoder` over the dataset's cached token ids."""

    name = "text"
    Options = TextOptions
    needs_tokens = True
    input_kinds = ("text",)

    def read_inputs(self, options: TextOptions, dataset_path: str, features: dict) -> dict:
        """The token ids of each split's texts (tokenized once per dataset, model and ``max_length``, then cached)."""
        from mtlsearch.data.tokens import ensure_tokens, read_token_splits

        return read_token_splits(ensure_tokens(dataset_path, options.model, options.max_length))

    def build(self, options: TextOptions, in_dim: int, input_shape: tuple[int, ...] | None):
        from mtlsearch.models.networks import TextEncoder

        return TextEncoder(in_dim, **options.model_dump(exclude={"type"}))
