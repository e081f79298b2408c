"""Token ids of a dataset's raw text, computed once per (dataset, tokenizer, max length) and cached as Arrow.

A ``text`` encoder (:class:`mtlsearch.models.networks.TextEncoder`) reads token
ids, not the table's feature column. Tokenizing thousands of reports in every
trial would cost more than a short trial's training, so the launcher calls
:func:`ensure_tokens` once before the first trial and every trial reads the
cached file (a trainer that finds no cache builds it itself, atomically).

Cache file: ``<dataset folder>/tokens/<key>.arrow`` (Arrow IPC), one row per
table row in the table's order, with columns ``split`` and ``tokens``: a fixed
size list of ``max_length + 1`` int32, the number of real tokens first, then
the ids (``[CLS] … [SEP]`` for BERT-family tokenizers, truncated to
``max_length``) right-padded with the tokenizer's pad id. ``key`` hashes the
tokenizer's identity (the content of its files for a local directory, the id
for a Hugging Face name), ``max_length`` and the table's fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from mtlsearch.data.canonical import SPLITS, read_info
from mtlsearch.errors import DataError

TEXT_COLUMN = "text"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "merges.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
)
_BATCH = 1024


def has_text(dataset_path: str | os.PathLike) -> bool:
    """Whether the canonical table keeps the raw text (a ``text`` column: ohsumed_folders, openi_*)."""
    return TEXT_COLUMN in pq.read_schema(str(dataset_path)).names


def _tokenizer_identity(name: str) -> str:
    """The content hash of a local tokenizer's files, or the Hugging Face id itself."""
    if not os.path.isdir(name):
        return name
    h = hashlib.sha256()
    for f in TOKENIZER_FILES:
        p = Path(name) / f
        if p.is_file():
            h.update(f.encode() + b"\0" + p.read_bytes())
    return "dir:" + h.hexdigest()


def token_cache_path(dataset_path: str | os.PathLike, encoder: str | None, max_length: int) -> Path:
    """Where :func:`ensure_tokens` keeps the token ids of ``dataset_path`` for this tokenizer and length."""
    from mtlsearch.pretrained import resolve_encoder

    ident = _tokenizer_identity(resolve_encoder(encoder))
    fp = read_info(dataset_path).fingerprint
    key = hashlib.sha256(json.dumps([ident, int(max_length), fp]).encode()).hexdigest()[:16]
    return Path(dataset_path).parent / "tokens" / f"{key}.arrow"


def tokenize_texts(texts: list[str], encoder: str | None, max_length: int) -> np.ndarray:
    """``(n, max_length + 1)`` int32 rows ``[length, id_1 … id_length, pad …]`` (see the module docstring)."""
    from mtlsearch.pretrained import load_encoder

    tokenizer, _ = load_encoder(encoder)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = np.full((len(texts), max_length + 1), pad, dtype=np.int32)
    for start in range(0, len(texts), _BATCH):
        ids = tokenizer(texts[start : start + _BATCH], truncation=True, max_length=max_length, add_special_tokens=True)[
            "input_ids"
        ]
        for i, row in enumerate(ids, start):
            out[i, 0] = len(row)
            out[i, 1 : 1 + len(row)] = row
    return out


def ensure_tokens(dataset_path: str | os.PathLike, encoder: str | None, max_length: int) -> Path:
    """The token cache of ``dataset_path`` for ``encoder`` (None: the bundled MiniLM), built if missing.

    Raises :class:`DataError` when the table has no raw text. The file is written
    to a temporary name and renamed, so a reader never sees half of it and two
    trials building it at once both end with the same complete file.
    """
    path = token_cache_path(dataset_path, encoder, max_length)
    if path.is_file():
        return path
    if not has_text(dataset_path):
        info = read_info(dataset_path)
        raise DataError(
            f"dataset {info.name!r} ({dataset_path}) keeps no raw text (no '{TEXT_COLUMN}' column), so a 'text' encoder "
            f"cannot read it; use a loader that keeps text (ohsumed_folders, openi_csv, openi_xml) or an 'mlp' encoder "
            f"on its features"
        )
    table = pq.read_table(str(dataset_path), columns=["split", TEXT_COLUMN])
    texts = [t or "" for t in table.column(TEXT_COLUMN).to_pylist()]
    tokens = tokenize_texts(texts, encoder, max_length)
    flat = pa.array(tokens.reshape(-1), type=pa.int32())
    out = pa.table({"split": table.column("split"), "tokens": pa.FixedSizeListArray.from_arrays(flat, max_length + 1)})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with ipc.new_file(str(tmp), out.schema) as writer:
            writer.write_table(out)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_token_splits(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The cached token rows per split (``train``/``val``/``test``), int64, in table order."""
    with ipc.open_file(str(path)) as reader:
        table = reader.read_all()
    col = table.column("tokens").combine_chunks()
    width = col.type.list_size
    rows = col.values.to_numpy(zero_copy_only=False).reshape(len(table), width).astype(np.int64)
    split = np.asarray(table.column("split").to_pylist())
    return {s: rows[split == s] for s in SPLITS}
